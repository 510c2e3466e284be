// Demonstrations from an expert (`relmimic record`): the expert acts in its env while a rendering
// pool of one env captures what the imitating agent will see, one frame per env step at the
// frame skip of training: per episode the reset frame, then the frame after each step (on the
// terminal step the finished episode's last frame, EnvPool::final_frames, not the reset that
// follows). Next to each frame go the observation of the same state (the env's proprioceptive
// vector, as the expert sees it before its normaliser; EnvPool::final_obs on the terminal step)
// and its qpos / qvel. Without frames (frames = false) nothing is rendered: observations only.
// Written with env::DemoWriter (docs/formats.md), tagged with the expert's SHA-256.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace relmimic::algos {

struct RecordOptions {
  std::string expert;  // PPO checkpoint (state expert, or a pixel agent)
  std::string out;     // demonstration file (written atomically)
  int episodes = 8;
  uint64_t seed = 0;           // env reset noise and action sampling
  bool deterministic = false;  // the policy's mean instead of a sample
  int frame_size = 84;         // rendered frame height = width (a pixel agent needs its own)
  bool overwrite = false;      // replace `out` if it exists (otherwise refused)
  bool frames = true;          // false: observations only, no rendering (state experts)
};

struct RecordResult {
  int obs_dim = 0;
  std::vector<double> returns;
  std::vector<int> lengths;
  std::string env, expert_sha256;
};

RecordResult record_demos(const RecordOptions& o);

}  // namespace relmimic::algos
