// Demonstrations: the expert's episodes in one HDF5 file (docs/formats.md), as rendered frames
// and (format version 2) as the env's proprioceptive observations and physics state.
//
//   /@format = "relmimic-demos", /@format_version = 2, /@env ("hopper" | "walker2d"),
//   /@frame_height, /@frame_width, /@frame_skip, /@camera ("track"), /@expert_sha256,
//   /@num_episodes, /@has_frames (1 | 0), /@obs_dim, /@nq, /@nv (0: no observations)
//   /episodes/<i>/frames   uint8 [length + 1, H, W], deflate-compressed; frame 0 is the render
//                          of the reset state, frame j (1..length) the render after env step j
//                          (absent when has_frames = 0; then frame_height = frame_width = 0)
//   /episodes/<i>/obs      float32 [length + 1, obs_dim]: row j is the observation of the state
//                          frame j shows (the reset observation, then the one after step j)
//   /episodes/<i>/qpos     float64 [length + 1, nq], /episodes/<i>/qvel float64 [length + 1, nv]:
//                          the physics state of the same rows
//   /episodes/<i>/returns  float64 [1]: the episode's undiscounted env return
//   /episodes/<i>/length   int32 [1]: env steps taken (rows - 1)
// Episodes are named "0", "1", ... (decimal, no padding). Version 1 files (frames only, without
// the has_frames / obs_dim / nq / nv attributes) still load; they hold no observations.
//
// Windows: the state at frame t of an episode is the stack of its k frames ending at t, oldest
// first, with frame 0 repeated before the episode start: slot j holds frame max(0, t - k + 1 + j).
// This is exactly what EnvPool's stack holds after reset() (t = 0) and after the t-th step
// (kernels::stack_push_cpu with reset, then one push per step). Observation windows [k, obs_dim]
// stack the observation rows the same way.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/h5.h"
#include "engine/rng.h"
#include "engine/tensor.h"

namespace relmimic::env {

inline constexpr const char* kDemoFormat = "relmimic-demos";
inline constexpr long kDemoFormatVersion = 2;

// The root attributes (num_episodes and the format fields are the writer's and reader's own).
struct DemoMeta {
  std::string env;  // "hopper" | "walker2d"
  int frame_height = 84;
  int frame_width = 84;
  int frame_skip = 4;
  std::string camera = "track";
  std::string expert_sha256;  // sha256_file() of the expert checkpoint, 64 lowercase hex chars
  bool has_frames = true;     // false: observations only (frame_height = frame_width = 0)
  int obs_dim = 0;            // > 0: every episode holds obs, qpos and qvel rows
  int nq = 0, nv = 0;         // qpos / qvel sizes (with obs_dim > 0)
};

// One episode of `length` env steps: every present tensor has length + 1 rows, host memory.
struct DemoEpisode {
  Tensor frames;      // uint8 [length + 1, H, W] (meta.has_frames)
  Tensor obs;         // float32 [length + 1, obs_dim] (meta.obs_dim > 0)
  Tensor qpos, qvel;  // float64 [length + 1, nq], [length + 1, nv] (meta.obs_dim > 0)
  double ret = 0;     // the episode's env return
  int length = 0;
};

// Writes a demonstration file atomically: nothing appears at `path` before commit().
class DemoWriter {
 public:
  DemoWriter(const std::string& path, const DemoMeta& meta);
  // frames [length + 1, H, W] uint8 (host): the reset frame, then one per step; ret is the
  // episode's env return. Written compressed at once, so memory stays one episode.
  void add_episode(const Tensor& frames, double ret, int length);
  // Frames and / or observations as the meta says (each checked against it).
  void add_episode(const DemoEpisode& e);
  // Writes the root attributes and renames the file into place (at least one episode).
  void commit();
  int num_episodes() const { return n_; }
  const DemoMeta& meta() const { return meta_; }

 private:
  DemoMeta meta_;
  h5::AtomicWriter w_;
  int n_ = 0;
};

// What the reader requires of a file; empty / 0 fields accept anything.
struct DemoExpect {
  std::string env;       // the run's env
  int frame_height = 0;  // the run's frame size
  int frame_width = 0;
  int frame_skip = 0;
  int k = 1;                // the run's stack size: every episode needs at least k frames
  bool need_frames = true;  // frame imitation: refuse a file without frames
  bool need_obs = false;    // state imitation: refuse a file without observations
  int obs_dim = 0;          // the run's observation size (0: any)
};

// All episodes of a file in memory, validated on load.
class DemoSet {
 public:
  // Throws a one-line relmimic::Error naming the file and the problem: missing or non-HDF5 file,
  // wrong format or version, missing attribute, env / frame size / frame skip different from
  // `expect`, no episodes, a frames dataset of the wrong dtype, rank or size, a length that
  // disagrees with the frame count, an episode shorter than expect.k frames; no frames when
  // expect.need_frames, no observations (a version 1 file, or one recorded without them) when
  // expect.need_obs, an observation size other than expect.obs_dim, obs / qpos / qvel datasets
  // of the wrong dtype or shape. Frames are read only when expect.need_frames.
  DemoSet(const std::string& path, const DemoExpect& expect);

  const std::string& path() const { return path_; }
  const DemoMeta& meta() const { return meta_; }
  int height() const { return meta_.frame_height; }
  int width() const { return meta_.frame_width; }
  long frame_size() const { return long(meta_.frame_height) * meta_.frame_width; }
  int num_episodes() const { return int(episodes_.size()); }
  int length(int ep) const { return episode(ep).length; }  // env steps
  int num_frames(int ep) const { return episode(ep).length + 1; }
  double episode_return(int ep) const { return episode(ep).ret; }
  const uint8_t* frames(int ep) const;  // [num_frames(ep), H, W] (loaded with need_frames)
  long format_version() const { return version_; }
  int obs_dim() const { return meta_.obs_dim; }
  const float* obs(int ep) const;    // [num_frames(ep), obs_dim]
  const double* qpos(int ep) const;  // [num_frames(ep), nq]
  const double* qvel(int ep) const;  // [num_frames(ep), nv]
  // Per-feature mean and population standard deviation of every observation row of every
  // episode (obs_dim values each).
  void obs_moments(std::vector<double>& mean, std::vector<double>& std) const;

  // Positions (episode, t) with first_t <= t < num_frames(episode), over all episodes.
  // first_t = 1 keeps only states reached by a step (the s_{t+1} an agent's reward scores).
  int64_t num_positions(int first_t = 0) const;
  // Draws count positions uniformly from those: episodes[count], ts[count].
  void sample_positions(int count, Rng& rng, int* episodes, int* ts, int first_t = 0) const;
  // The stacked state ending at frame t of episode ep: out [k, H, W] (see the file comment).
  void window(int ep, int t, int k, uint8_t* out) const;
  // count windows at uniformly drawn positions: out [count, k, H, W]. Draws the same positions
  // as sample_positions() would from the same Rng state.
  void sample_windows(int count, int k, Rng& rng, uint8_t* out, int first_t = 0) const;
  // The same for observations: out [k, obs_dim], and count windows [count, k, obs_dim] at the
  // positions sample_positions() draws.
  void obs_window(int ep, int t, int k, float* out) const;
  void sample_obs_windows(int count, int k, Rng& rng, float* out, int first_t = 0) const;

  // Every episode's rows end to end, episode 0 first (what a run uploads to its device once):
  // frames [F, H, W] (loaded with need_frames) and observations [F, obs_dim] (obs_dim > 0), F the
  // total of num_frames(). Undefined tensors when not loaded.
  const Tensor& frame_rows() const { return frame_rows_; }
  const Tensor& obs_rows() const { return obs_rows_; }
  // count windows at the positions sample_windows() draws from the same Rng state, as row
  // indices into frame_rows() / obs_rows(): rows [count, k], oldest first, padded like window().
  void sample_window_rows(int count, int k, Rng& rng, int32_t* rows, int first_t = 0) const;

 private:
  struct Episode {
    Tensor frames;      // [length + 1, H, W] uint8 (when loaded)
    Tensor obs;         // [length + 1, obs_dim] float32 (obs_dim > 0)
    Tensor qpos, qvel;  // [length + 1, nq], [length + 1, nv] float64 (obs_dim > 0)
    int length = 0;
    double ret = 0;
    long first_row = 0;  // of frame_rows() / obs_rows()
  };
  const Episode& episode(int ep) const;
  std::string path_;
  DemoMeta meta_;
  long version_ = 0;
  std::vector<Episode> episodes_;
  Tensor frame_rows_, obs_rows_;
};

}  // namespace relmimic::env
