// The demonstration store: round trips, windows against the env pool's frame stacking, uniform
// sampling, and every way a file can be rejected.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "engine/h5.h"
#include "engine/sha256.h"
#include "env/demos.h"
#include "kernels/image.h"
#include "tests/test_util.h"

namespace relmimic::env {
namespace {

using relmimic::testing::error_of;

std::string tmp_path(const std::string& name) {
  return testing::tmp_path("demos_" + name);
}

// Frame t of episode ep: every frame and pixel distinct enough to catch an off-by-one.
Tensor make_frames(int ep, int length, int h, int w) {
  Tensor t = Tensor::zeros({length + 1, h, w}, DType::u8);
  uint8_t* p = t.data<uint8_t>();
  for (int64_t i = 0; i < t.numel(); ++i) {
    const int64_t frame = i / (h * w), pix = i % (h * w);
    p[i] = uint8_t((ep * 71 + frame * 13 + pix * 3) % 251);
  }
  return t;
}

DemoMeta test_meta(int h = 6, int w = 5) {
  DemoMeta m;
  m.env = "hopper";
  m.frame_height = h;
  m.frame_width = w;
  m.expert_sha256 = sha256_hex("expert checkpoint bytes");
  return m;
}

// Writes a file with DemoWriter: one episode per entry of lengths.
void write_demos(const std::string& path, const std::vector<int>& lengths, const DemoMeta& m) {
  DemoWriter w(path, m);
  for (size_t i = 0; i < lengths.size(); ++i)
    w.add_episode(make_frames(int(i), lengths[i], m.frame_height, m.frame_width),
                  100.0 * double(i) + 0.25, lengths[i]);
  w.commit();
}

// Observation rows of episode ep (D values, distinct per row), qpos (3) and qvel (2) rows.
Tensor make_rows(int ep, int length, int d, DType dt, double offset) {
  Tensor t = Tensor::zeros({length + 1, d}, dt);
  for (int64_t i = 0; i < t.numel(); ++i) {
    const double v = offset + ep * 1000 + double(i / d) + 0.125 * double(i % d);
    if (dt == DType::f32)
      t.data<float>()[i] = float(v);
    else
      t.data<double>()[i] = v;
  }
  return t;
}

DemoMeta state_meta(bool frames) {
  DemoMeta m = test_meta(frames ? 6 : 0, frames ? 5 : 0);
  m.has_frames = frames;
  if (!frames) m.camera = "none";
  m.obs_dim = 4;
  m.nq = 3;
  m.nv = 2;
  return m;
}

// Version 2 with observations: frames (when the meta has them), obs, qpos and qvel per row.
void write_state_demos(const std::string& path, const std::vector<int>& lengths,
                       const DemoMeta& m) {
  DemoWriter w(path, m);
  for (size_t i = 0; i < lengths.size(); ++i) {
    DemoEpisode e;
    const int len = lengths[i], ep = int(i);
    if (m.has_frames) e.frames = make_frames(ep, len, m.frame_height, m.frame_width);
    e.obs = make_rows(ep, len, m.obs_dim, DType::f32, 0.5);
    e.qpos = make_rows(ep, len, m.nq, DType::f64, 0.25);
    e.qvel = make_rows(ep, len, m.nv, DType::f64, -0.75);
    e.ret = 10.0 * ep;
    e.length = len;
    w.add_episode(e);
  }
  w.commit();
}

// ---- round trip --------------------------------------------------------------------------

TEST(Demos, RoundTripKeepsObservationsQposAndQvelNextToTheFrames) {
  for (bool frames : {true, false}) {
    const std::string path = tmp_path("state_roundtrip.h5");
    const std::vector<int> lengths = {5, 9};
    write_state_demos(path, lengths, state_meta(frames));
    DemoSet d(path,
              {.env = "hopper", .k = 2, .need_frames = false, .need_obs = true, .obs_dim = 4});
    EXPECT_EQ(d.format_version(), 2);
    EXPECT_EQ(d.obs_dim(), 4);
    EXPECT_EQ(d.meta().has_frames, frames);
    EXPECT_EQ(d.meta().nq, 3);
    EXPECT_EQ(d.meta().nv, 2);
    for (int ep = 0; ep < 2; ++ep) {
      const int len = lengths[size_t(ep)];
      ASSERT_EQ(d.num_frames(ep), len + 1);
      const Tensor o = make_rows(ep, len, 4, DType::f32, 0.5);
      const Tensor qp = make_rows(ep, len, 3, DType::f64, 0.25);
      const Tensor qv = make_rows(ep, len, 2, DType::f64, -0.75);
      EXPECT_EQ(std::memcmp(d.obs(ep), o.raw(), o.nbytes()), 0) << ep;
      EXPECT_EQ(std::memcmp(d.qpos(ep), qp.raw(), qp.nbytes()), 0) << ep;
      EXPECT_EQ(std::memcmp(d.qvel(ep), qv.raw(), qv.nbytes()), 0) << ep;
    }
    // Frames were not asked for: not read.
    EXPECT_NE(error_of([&] { d.frames(0); }).find("not loaded"), std::string::npos);
    // Observation windows stack rows like frame windows stack frames (row 0 padding), and
    // sample_obs_windows draws sample_positions' positions.
    std::vector<float> win(8);
    d.obs_window(0, 0, 2, win.data());
    EXPECT_EQ(std::memcmp(win.data(), d.obs(0), 16), 0);
    EXPECT_EQ(std::memcmp(win.data() + 4, d.obs(0), 16), 0);
    d.obs_window(1, 7, 2, win.data());
    EXPECT_EQ(std::memcmp(win.data(), d.obs(1) + 6 * 4, 32), 0);
    const int count = 16;
    std::vector<float> out(size_t(count) * 8);
    std::vector<int> eps(count), ts(count);
    Rng a(5), b(5);
    d.sample_obs_windows(count, 2, a, out.data(), 1);
    d.sample_positions(count, b, eps.data(), ts.data(), 1);
    for (int s = 0; s < count; ++s) {
      d.obs_window(eps[size_t(s)], ts[size_t(s)], 2, win.data());
      EXPECT_EQ(std::memcmp(out.data() + s * 8, win.data(), 32), 0) << s;
    }
    std::vector<double> mean, sd;
    d.obs_moments(mean, sd);
    ASSERT_EQ(mean.size(), 4u);
    // Feature j of row r in episode ep is 0.5 + 1000 ep + r + 0.125 j over 6 + 10 rows.
    double m0 = 0, v0 = 0;
    for (int ep = 0; ep < 2; ++ep)
      for (int r = 0; r <= lengths[size_t(ep)]; ++r) m0 += 0.5 + 1000.0 * ep + r;
    m0 /= 16;
    for (int ep = 0; ep < 2; ++ep)
      for (int r = 0; r <= lengths[size_t(ep)]; ++r)
        v0 += (0.5 + 1000.0 * ep + r - m0) * (0.5 + 1000.0 * ep + r - m0);
    EXPECT_NEAR(mean[0], m0, 1e-9);
    EXPECT_NEAR(mean[3], m0 + 0.375, 1e-9);
    EXPECT_NEAR(sd[2], std::sqrt(v0 / 16), 1e-9);

    h5::File f = h5::File::open(path);
    EXPECT_EQ(f.attr_long("/", "format_version"), 2);
    EXPECT_EQ(f.attr_long("/", "has_frames"), frames ? 1 : 0);
    EXPECT_EQ(f.attr_long("/", "obs_dim"), 4);
    EXPECT_EQ(f.exists("episodes/0/frames"), frames);
    EXPECT_EQ(f.shape("episodes/1/obs"), (Shape{10, 4}));
    EXPECT_EQ(f.dtype("episodes/1/obs"), DType::f32);
    EXPECT_EQ(f.shape("episodes/1/qpos"), (Shape{10, 3}));
    EXPECT_EQ(f.dtype("episodes/1/qvel"), DType::f64);
    std::filesystem::remove(path);
  }
}

TEST(Demos, RoundTripKeepsFramesReturnsLengthsAndAttributes) {
  const std::string path = tmp_path("roundtrip.h5");
  const std::vector<int> lengths = {7, 3, 12};
  write_demos(path, lengths, test_meta());

  DemoSet d(path, {.env = "hopper", .frame_height = 6, .frame_width = 5, .frame_skip = 4, .k = 4});
  EXPECT_EQ(d.meta().env, "hopper");
  EXPECT_EQ(d.meta().camera, "track");
  EXPECT_EQ(d.meta().frame_skip, 4);
  EXPECT_EQ(d.meta().expert_sha256, sha256_hex("expert checkpoint bytes"));
  EXPECT_EQ(d.height(), 6);
  EXPECT_EQ(d.width(), 5);
  ASSERT_EQ(d.num_episodes(), 3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(d.length(i), lengths[size_t(i)]);
    EXPECT_EQ(d.num_frames(i), lengths[size_t(i)] + 1);
    EXPECT_DOUBLE_EQ(d.episode_return(i), 100.0 * i + 0.25);
    Tensor want = make_frames(i, lengths[size_t(i)], 6, 5);
    EXPECT_EQ(std::memcmp(d.frames(i), want.raw(), want.nbytes()), 0) << "episode " << i;
  }

  // The documented layout, read back through the plain HDF5 layer (as h5py would see it).
  h5::File f = h5::File::open(path);
  EXPECT_EQ(f.attr_string("/", "format"), "relmimic-demos");
  EXPECT_EQ(f.attr_long("/", "format_version"), 2);
  EXPECT_EQ(f.attr_long("/", "has_frames"), 1);
  EXPECT_EQ(f.attr_long("/", "obs_dim"), 0);  // frames only: no observation datasets
  EXPECT_FALSE(f.exists("episodes/0/obs"));
  EXPECT_EQ(f.attr_long("/", "num_episodes"), 3);
  EXPECT_EQ(f.attr_long("/", "frame_height"), 6);
  EXPECT_EQ(f.attr_long("/", "frame_width"), 5);
  EXPECT_EQ(f.list("episodes"), (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_EQ(f.shape("episodes/2/frames"), (Shape{13, 6, 5}));
  EXPECT_EQ(f.dtype("episodes/0/returns"), DType::f64);
  EXPECT_EQ(f.read("episodes/1/length").data<int32_t>()[0], 3);
  std::filesystem::remove(path);
}

TEST(Demos, FramesAreCompressed) {
  const std::string path = tmp_path("compressed.h5");
  DemoWriter w(path, test_meta(84, 84));
  Tensor frames = Tensor::zeros({1001, 84, 84}, DType::u8);  // 7 MB raw, a flat grey video
  std::memset(frames.raw(), 90, frames.nbytes());
  w.add_episode(frames, 3000.0, 1000);
  w.commit();
  EXPECT_LT(std::filesystem::file_size(path), frames.nbytes() / 20);
  std::filesystem::remove(path);
}

TEST(Demos, WriterIsAtomicAndChecksItsInput) {
  const std::string path = tmp_path("atomic.h5");
  std::filesystem::remove(path);
  {
    DemoWriter w(path, test_meta());
    w.add_episode(make_frames(0, 4, 6, 5), 1.0, 4);
    EXPECT_FALSE(std::filesystem::exists(path)) << "visible before commit()";
    EXPECT_NE(error_of([&] {
                w.add_episode(make_frames(0, 4, 6, 5), 1.0, 5);
              }).find("expected shape [6, 6, 5], got [5, 6, 5]"),
              std::string::npos);
    EXPECT_NE(error_of([&] { w.add_episode(make_frames(0, 4, 5, 6), 1.0, 4); }), "");
    EXPECT_NE(error_of([&] {
                w.add_episode(Tensor::zeros({5, 6, 5}, DType::f32), 1.0, 4);
              }).find("must be host uint8, got float32"),
              std::string::npos);
  }
  EXPECT_FALSE(std::filesystem::exists(path)) << "abandoned write left a file";
  for (const auto& p : std::filesystem::directory_iterator(std::filesystem::temp_directory_path()))
    EXPECT_EQ(
        p.path().filename().string().find(std::filesystem::path(path).filename().string() + ".tmp"),
        std::string::npos);

  DemoWriter empty(path, test_meta());
  EXPECT_NE(error_of([&] { empty.commit(); }).find("without episodes"), std::string::npos);

  DemoMeta bad = test_meta();
  bad.env = "ant";
  EXPECT_NE(error_of([&] { DemoWriter w_(path, bad); }), "");
  bad = test_meta();
  bad.expert_sha256 = "abc";
  EXPECT_NE(error_of([&] { DemoWriter w_(path, bad); }).find("expert_sha256"), std::string::npos);
}

// ---- windows -----------------------------------------------------------------------------

TEST(Demos, WindowsEqualTheEnvPoolsFrameStack) {
  const std::string path = tmp_path("windows.h5");
  const std::vector<int> lengths = {10, 2};
  write_demos(path, lengths, test_meta());
  DemoSet d(path, {.k = 1});
  const long fs = d.frame_size();
  for (int k : {1, 2, 4, 8}) {
    for (int ep = 0; ep < d.num_episodes(); ++ep) {
      // The pool: a reset fills the stack with the first frame, each step pushes one frame.
      std::vector<uint8_t> stack(size_t(k * fs)), win(stack.size());
      for (int t = 0; t < d.num_frames(ep); ++t) {
        kernels::stack_push_cpu(k, fs, d.frames(ep) + t * fs, stack.data(), t == 0);
        d.window(ep, t, k, win.data());
        EXPECT_EQ(win, stack) << "k " << k << " episode " << ep << " t " << t;
      }
    }
  }
  // Explicitly, k = 4 in episode 0: t = 0 repeats frame 0, t = 1 pads with it, t = 6 is 3..6.
  std::vector<uint8_t> win(size_t(4 * fs));
  auto slot_is = [&](int slot, int frame) {
    return std::memcmp(win.data() + slot * fs, d.frames(0) + frame * fs, size_t(fs)) == 0;
  };
  d.window(0, 0, 4, win.data());
  for (int j = 0; j < 4; ++j) EXPECT_TRUE(slot_is(j, 0)) << "t 0 slot " << j;
  d.window(0, 1, 4, win.data());
  EXPECT_TRUE(slot_is(0, 0) && slot_is(1, 0) && slot_is(2, 0) && slot_is(3, 1));
  d.window(0, 6, 4, win.data());
  EXPECT_TRUE(slot_is(0, 3) && slot_is(1, 4) && slot_is(2, 5) && slot_is(3, 6));
  EXPECT_FALSE(slot_is(0, 2));

  EXPECT_NE(error_of([&] { d.window(1, 3, 4, win.data()); }).find("frame 3 out of range"),
            std::string::npos);
  EXPECT_NE(error_of([&] { d.window(2, 0, 4, win.data()); }).find("episode 2 out of range"),
            std::string::npos);
  std::filesystem::remove(path);
}

TEST(Demos, SamplingIsUniformOverPositionsAndMatchesWindows) {
  const std::string path = tmp_path("sampling.h5");
  write_demos(path, {9, 19, 29}, test_meta());  // 10 + 20 + 30 = 60 positions
  DemoSet d(path, {.k = 4});
  ASSERT_EQ(d.num_positions(), 60);
  ASSERT_EQ(d.num_positions(1), 57);

  const int n = 60000;
  std::vector<int> eps(n), ts(n);
  Rng rng(7);
  d.sample_positions(n, rng, eps.data(), ts.data());
  std::map<std::pair<int, int>, int> hits;
  int per_episode[3] = {0, 0, 0};
  for (int s = 0; s < n; ++s) {
    ASSERT_TRUE(eps[s] >= 0 && eps[s] < 3 && ts[s] >= 0 && ts[s] < d.num_frames(eps[s]));
    ++hits[{eps[s], ts[s]}];
    ++per_episode[eps[s]];
  }
  // Episodes in proportion to their frames (binomial sd <= 122: allow 5 sd).
  EXPECT_NEAR(per_episode[0], 10000, 600);
  EXPECT_NEAR(per_episode[1], 20000, 600);
  EXPECT_NEAR(per_episode[2], 30000, 600);
  // Every position about n / 60 = 1000 times (sd 31.4: allow 6 sd).
  EXPECT_EQ(hits.size(), 60u);
  for (const auto& [pos, c] : hits) EXPECT_NEAR(c, 1000, 190) << pos.first << "," << pos.second;

  // first_t = 1: only states reached by a step.
  Rng rng1(8);
  d.sample_positions(5000, rng1, eps.data(), ts.data(), 1);
  for (int s = 0; s < 5000; ++s) EXPECT_GE(ts[s], 1);

  // sample_windows draws the same positions and writes their windows [count, k, H, W].
  const int count = 64, k = 4;
  const size_t stride = size_t(k * d.frame_size());
  std::vector<uint8_t> out(count * stride), win(stride);
  Rng a(11), b(11);
  d.sample_windows(count, k, a, out.data());
  d.sample_positions(count, b, eps.data(), ts.data());
  for (int s = 0; s < count; ++s) {
    d.window(eps[s], ts[s], k, win.data());
    EXPECT_EQ(std::memcmp(out.data() + s * stride, win.data(), stride), 0) << "sample " << s;
  }
  EXPECT_EQ(a.next_u64(), b.next_u64()) << "sample_windows consumed a different number of draws";
  // Reproducible for a fixed seed, different for another.
  std::vector<uint8_t> again(out.size()), other(out.size());
  Rng c(11), e(12);
  d.sample_windows(count, k, c, again.data());
  d.sample_windows(count, k, e, other.data());
  EXPECT_EQ(again, out);
  EXPECT_NE(other, out);
  std::filesystem::remove(path);
}

// ---- rejections --------------------------------------------------------------------------

// A file in the demo layout written field by field, so each test can break one thing.
struct RawEpisode {
  Tensor frames;
  int length;
};
struct RawFile {
  std::map<std::string, std::string> strings = {{"format", "relmimic-demos"},
                                                {"env", "hopper"},
                                                {"camera", "track"},
                                                {"expert_sha256", sha256_hex("x")}};
  std::map<std::string, long> longs = {{"format_version", 1},
                                       {"frame_height", 6},
                                       {"frame_width", 5},
                                       {"frame_skip", 4},
                                       {"num_episodes", 2}};
  std::vector<RawEpisode> episodes = {{make_frames(0, 5, 6, 5), 5}, {make_frames(1, 4, 6, 5), 4}};
};

void write_raw(const std::string& path, const RawFile& r) {
  h5::File f = h5::File::create(path);
  f.create_group("episodes");
  for (const auto& [k, v] : r.strings) f.set_attr("/", k, v);
  for (const auto& [k, v] : r.longs) f.set_attr("/", k, v);
  for (size_t i = 0; i < r.episodes.size(); ++i) {
    const std::string ep = "episodes/" + std::to_string(i);
    f.write(ep + "/frames", r.episodes[i].frames, true);
    f.write(ep + "/returns", std::vector<double>{1.5});
    f.write(ep + "/length", std::vector<int32_t>{r.episodes[i].length});
  }
}

const DemoExpect kExpect = {.env = "hopper", .frame_height = 6, .frame_width = 5, .k = 4};

// The message of loading a RawFile with one thing changed.
std::string load_error(RawFile r, const DemoExpect& expect = kExpect) {
  const std::string path = tmp_path("raw.h5");
  write_raw(path, r);
  std::string e = error_of([&] { DemoSet d_(path, expect); });
  std::filesystem::remove(path);
  return e;
}

#define EXPECT_ERROR(error, text)                                                  \
  do {                                                                             \
    const std::string e_ = (error);                                                \
    EXPECT_NE(e_.find(text), std::string::npos) << "message: '" << e_ << "'";      \
    EXPECT_EQ(e_.find('\n'), std::string::npos) << "not one line: '" << e_ << "'"; \
  } while (0)

TEST(Demos, RawLayoutLoadsUnchanged) {
  // The baseline of the rejection tests: unbroken, the hand-written layout is accepted.
  EXPECT_EQ(load_error(RawFile{}), "");
}

TEST(Demos, RejectsMissingNonHdf5AndTruncatedFiles) {
  const std::string path = tmp_path("files.h5");
  std::filesystem::remove(path);
  EXPECT_ERROR(error_of([&] { DemoSet d_(path, kExpect); }), "file not found: '" + path + "'");

  FILE* f = std::fopen(path.c_str(), "w");
  std::fputs("frame,value\n0,1\n", f);
  std::fclose(f);
  EXPECT_ERROR(error_of([&] { DemoSet d_(path, kExpect); }), "is not an HDF5 file");

  write_demos(path, {40, 40}, test_meta(32, 32));
  const auto size = std::filesystem::file_size(path);
  ASSERT_EQ(error_of([&] { DemoSet d_(path, {}); }), "");
  std::filesystem::resize_file(path, size / 2);
  const std::string e = error_of([&] { DemoSet d_(path, {}); });
  EXPECT_ERROR(e, path);
  EXPECT_ERROR(e, "truncated");
  std::filesystem::remove(path);
}

TEST(Demos, RejectsWrongFormatAndVersion) {
  RawFile r;
  r.strings["format"] = "relmimic-checkpoint";
  EXPECT_ERROR(load_error(r), "format is 'relmimic-checkpoint', expected 'relmimic-demos'");
  r = RawFile{};
  r.strings.erase("format");
  EXPECT_ERROR(load_error(r), "no 'format' attribute: not a relmimic demonstration file");
  r = RawFile{};
  r.longs["format_version"] = 3;
  EXPECT_ERROR(load_error(r), "format_version 3 is not supported");
}

TEST(Demos, RejectsEachMissingAttribute) {
  for (const char* a : {"env", "camera", "expert_sha256"}) {
    RawFile r;
    r.strings.erase(a);
    EXPECT_ERROR(load_error(r), std::string("missing attribute '") + a + "'");
  }
  for (const char* a :
       {"format_version", "frame_height", "frame_width", "frame_skip", "num_episodes"}) {
    RawFile r;
    r.longs.erase(a);
    EXPECT_ERROR(load_error(r), std::string("missing attribute '") + a + "'");
  }
}

TEST(Demos, RejectsEnvFrameSizeAndFrameSkipMismatch) {
  EXPECT_ERROR(load_error(RawFile{}, {.env = "walker2d", .k = 1}),
               "recorded on env 'hopper', this run is 'walker2d'");

  // A 64x64 recording offered to an 84x84 run.
  const std::string path = tmp_path("size.h5");
  write_demos(path, {4}, test_meta(64, 64));
  EXPECT_ERROR(error_of([&] { DemoSet d_(path, {.frame_height = 84, .frame_width = 84}); }),
               "frames are 64x64, this run uses 84x84");
  EXPECT_EQ(error_of([&] { DemoSet d_(path, {.frame_height = 64, .frame_width = 64}); }), "");
  EXPECT_ERROR(error_of([&] { DemoSet d_(path, {.frame_skip = 2}); }),
               "recorded with frame_skip 4, this run uses 2");
  std::filesystem::remove(path);

  // The attribute says 6x5 but an episode's frames are 6x6.
  RawFile r;
  r.episodes[1].frames = make_frames(1, 4, 6, 6);
  EXPECT_ERROR(load_error(r),
               "episode 1 frames have shape [5, 6, 6], the file's frame size is 6x5");
}

TEST(Demos, RejectsBadEpisodes) {
  RawFile r;
  r.episodes[1] = {make_frames(1, 2, 6, 5), 2};  // 3 frames
  EXPECT_ERROR(load_error(r), "episode 1 has 3 frames, fewer than the stack size k = 4");
  EXPECT_EQ(load_error(r, {.k = 3}), "");

  r = RawFile{};
  r.episodes[0].length = 6;  // 6 frames for 5 steps are written
  EXPECT_ERROR(load_error(r), "episode 0 has length 6 but 6 frames (expected length + 1 = 7)");

  r = RawFile{};
  r.episodes[0] = {make_frames(0, 0, 6, 5), 0};
  EXPECT_ERROR(load_error(r, {.k = 1}), "episode 0 has length 0, need at least 1 step");

  r = RawFile{};
  r.longs["num_episodes"] = 0;
  r.episodes.clear();
  EXPECT_ERROR(load_error(r), "holds no episodes (num_episodes = 0)");

  r = RawFile{};
  r.longs["num_episodes"] = 3;
  EXPECT_ERROR(load_error(r), "num_episodes is 3 but /episodes has 2 members");

  r = RawFile{};
  r.episodes[1].frames = Tensor::zeros({5, 6, 5}, DType::f32);
  EXPECT_ERROR(load_error(r), "episode 1 frames are float32, expected uint8");

  r = RawFile{};
  r.episodes[0].frames = make_frames(0, 5, 6, 5).reshape({6, 30});
  EXPECT_ERROR(load_error(r), "episode 0 frames have shape [6, 30], expected rank 3 [T, H, W]");
}

TEST(Demos, RejectsMissingEpisodeDatasets) {
  const std::string path = tmp_path("datasets.h5");
  {
    RawFile r;
    r.episodes.resize(1);
    r.longs["num_episodes"] = 2;
    write_raw(path, r);
    h5::File f = h5::File::open(path, true);
    f.write("episodes/1/frames", make_frames(1, 3, 6, 5));
    f.write("episodes/1/length", std::vector<int32_t>{3});
  }
  EXPECT_ERROR(error_of([&] { DemoSet d_(path, kExpect); }), "episode 1 has no 'returns' dataset");
  {
    h5::File f = h5::File::open(path, true);
    f.write("episodes/1/returns", std::vector<float>{2.f});
  }
  EXPECT_ERROR(error_of([&] { DemoSet d_(path, kExpect); }),
               "episode 1 'returns' must be float64 [1]");
  std::filesystem::remove(path);
}

TEST(Demos, ObservationFilesAreRefusedWhereTheyDoNotFit) {
  const std::string path = tmp_path("state_refusals.h5");
  // Without frames: refused for frame imitation (the default expectation), fine for states.
  write_state_demos(path, {5}, state_meta(false));
  EXPECT_ERROR(error_of([&] { DemoSet d_(path, {.env = "hopper"}); }),
               "holds no frames (recorded with --no-frames)");
  EXPECT_EQ(error_of([&] { DemoSet d_(path, {.need_frames = false, .need_obs = true}); }), "");
  // A run whose env has another observation size.
  EXPECT_ERROR(
      error_of([&] { DemoSet d_(path, {.need_frames = false, .need_obs = true, .obs_dim = 11}); }),
      "observations are 4-dimensional, this run's env has 11");
  std::filesystem::remove(path);

  // Frames only (version 2 without observations, and version 1): refused for states.
  write_demos(path, {5}, test_meta());
  EXPECT_ERROR(error_of([&] { DemoSet d_(path, {.need_frames = false, .need_obs = true}); }),
               "holds no observations");
  std::filesystem::remove(path);
  EXPECT_EQ(load_error(RawFile{}, {.k = 1}), "");  // version 1 still loads for frames
  EXPECT_ERROR(load_error(RawFile{}, {.k = 1, .need_frames = false, .need_obs = true}),
               "format_version 1 holds frames only");

  // Observation datasets that disagree with the attributes (the raw layout as version 2;
  // episodes of 5 and 4 steps).
  auto raw_state = [&](const std::string& bad, const Tensor& with) {
    RawFile r;
    r.longs["format_version"] = 2;
    r.longs["has_frames"] = 1;
    r.longs["obs_dim"] = 4;
    r.longs["nq"] = 3;
    r.longs["nv"] = 2;
    write_raw(path, r);
    h5::File f = h5::File::open(path, true);
    for (int ep = 0; ep < 2; ++ep) {
      const int len = r.episodes[size_t(ep)].length;
      const std::string g = "episodes/" + std::to_string(ep) + "/";
      for (const auto& [name, t] :
           {std::pair<std::string, Tensor>{"obs", make_rows(ep, len, 4, DType::f32, 0)},
            {"qpos", make_rows(ep, len, 3, DType::f64, 0)},
            {"qvel", make_rows(ep, len, 2, DType::f64, 0)}})
        if (g + name != bad)
          f.write(g + name, t);
        else if (with.defined())
          f.write(g + name, with);
    }
    std::string e = error_of([&] { DemoSet d_(path, {.need_obs = true}); });
    std::filesystem::remove(path);
    return e;
  };
  EXPECT_EQ(raw_state("", Tensor()), "");
  EXPECT_ERROR(raw_state("episodes/1/qvel", make_rows(1, 4, 3, DType::f64, 0)),
               "episode 1 'qvel' is float64 [5, 3], expected float64 [5, 2]");
  EXPECT_ERROR(raw_state("episodes/0/obs", make_rows(0, 4, 4, DType::f32, 0)),
               "episode 0 'obs' is float32 [5, 4], expected float32 [6, 4]");
  EXPECT_ERROR(raw_state("episodes/0/qpos", Tensor()), "episode 0 has no 'qpos' dataset");

  // The writer checks what it is given against the meta.
  DemoWriter w(path, state_meta(false));
  DemoEpisode e;
  e.length = 3;
  e.obs = make_rows(0, 3, 4, DType::f32, 0);
  e.qpos = make_rows(0, 3, 3, DType::f64, 0);
  e.qvel = make_rows(0, 3, 2, DType::f64, 0);
  e.frames = make_frames(0, 3, 6, 5);
  EXPECT_NE(error_of([&] { w.add_episode(e); }).find("frames given to a file without frames"),
            std::string::npos);
  e.frames = Tensor();
  e.obs = make_rows(0, 3, 4, DType::f64, 0);
  EXPECT_NE(error_of([&] { w.add_episode(e); }).find("must be host float32"), std::string::npos);
  DemoMeta none = state_meta(false);
  none.obs_dim = 0;
  EXPECT_NE(error_of([&] { DemoWriter w_(path, none); }).find("neither frames nor observations"),
            std::string::npos);
}

}  // namespace
}  // namespace relmimic::env
