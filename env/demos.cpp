#include "env/demos.h"

#include <algorithm>
#include <cstring>

#include "engine/sha256.h"
#include "env/locomotion.h"

namespace relmimic::env {

namespace {
const DemoMeta& checked(const DemoMeta& m) {
  parse_task(m.env);  // throws on anything but "hopper" | "walker2d"
  RM_CHECK(m.frame_height > 0 && m.frame_width > 0, "demonstrations: bad frame size ",
           m.frame_height, "x", m.frame_width);
  RM_CHECK(m.frame_skip > 0, "demonstrations: bad frame_skip ", m.frame_skip);
  RM_CHECK(!m.camera.empty(), "demonstrations: empty camera name");
  RM_CHECK(is_sha256_hex(m.expert_sha256),
           "demonstrations: expert_sha256 must be 64 lowercase hex characters, got '",
           m.expert_sha256, "'");
  return m;
}

std::string episode_path(int i) {
  return "episodes/" + std::to_string(i);
}
}  // namespace

DemoWriter::DemoWriter(const std::string& path, const DemoMeta& meta)
    : meta_(checked(meta)), w_(path) {
  w_.file().create_group("episodes");
}

void DemoWriter::add_episode(const Tensor& frames, double ret, int length) {
  RM_CHECK(length >= 1, "demonstration episode ", n_, ": length ", length, ", need at least 1");
  RM_CHECK(frames.device().is_cpu() && frames.dtype() == DType::u8,
           "demonstration frames must be host uint8, got ", dtype_name(frames.dtype()), " on ",
           frames.device().str());
  frames.check_shape({int64_t(length) + 1, meta_.frame_height, meta_.frame_width},
                     "demonstration frames [length + 1, H, W]");
  h5::File& f = w_.file();
  const std::string ep = episode_path(n_);
  f.write(ep + "/frames", frames, /*compress=*/true);
  f.write(ep + "/returns", std::vector<double>{ret});
  f.write(ep + "/length", std::vector<int32_t>{int32_t(length)});
  ++n_;
}

void DemoWriter::commit() {
  RM_CHECK(n_ > 0, "demonstration file without episodes: add_episode() before commit()");
  h5::File& f = w_.file();
  f.set_attr("/", "format", kDemoFormat);
  f.set_attr("/", "format_version", kDemoFormatVersion);
  f.set_attr("/", "env", meta_.env);
  f.set_attr("/", "frame_height", meta_.frame_height);
  f.set_attr("/", "frame_width", meta_.frame_width);
  f.set_attr("/", "frame_skip", meta_.frame_skip);
  f.set_attr("/", "camera", meta_.camera);
  f.set_attr("/", "expert_sha256", meta_.expert_sha256);
  f.set_attr("/", "num_episodes", n_);
  w_.commit();
}

// ---------------------------------------------------------------------------------------------

#define DEMO_CHECK(cond, ...) RM_CHECK(cond, "demonstrations '", path, "': ", __VA_ARGS__)

DemoSet::DemoSet(const std::string& path, const DemoExpect& expect) : path_(path) {
  RM_CHECK(expect.k >= 1, "demonstrations: stack size k = ", expect.k, ", need at least 1");
  const h5::File f = h5::File::open(path);  // missing / not HDF5 / truncated: one-line errors

  DEMO_CHECK(f.has_attr("/", "format"), "no 'format' attribute: not a relmimic demonstration file");
  const std::string format = f.attr_string("/", "format");
  DEMO_CHECK(format == kDemoFormat, "format is '", format, "', expected '", kDemoFormat, "'");
  for (const char* a : {"format_version", "env", "frame_height", "frame_width", "frame_skip",
                        "camera", "expert_sha256", "num_episodes"})
    DEMO_CHECK(f.has_attr("/", a), "missing attribute '", a, "'");
  const long version = f.attr_long("/", "format_version");
  DEMO_CHECK(version == kDemoFormatVersion, "format_version ", version,
             " is not supported (this build reads ", kDemoFormatVersion, ")");

  meta_.env = f.attr_string("/", "env");
  const long h = f.attr_long("/", "frame_height"), w = f.attr_long("/", "frame_width");
  DEMO_CHECK(h > 0 && w > 0 && h * w <= (1L << 30), "bad frame size ", h, "x", w);
  meta_.frame_height = int(h);
  meta_.frame_width = int(w);
  meta_.frame_skip = int(f.attr_long("/", "frame_skip"));
  meta_.camera = f.attr_string("/", "camera");
  meta_.expert_sha256 = f.attr_string("/", "expert_sha256");

  DEMO_CHECK(expect.env.empty() || meta_.env == expect.env, "recorded on env '", meta_.env,
             "', this run is '", expect.env, "'");
  DEMO_CHECK((expect.frame_height == 0 || expect.frame_height == h) &&
                 (expect.frame_width == 0 || expect.frame_width == w),
             "frames are ", h, "x", w, ", this run uses ", expect.frame_height, "x",
             expect.frame_width);
  DEMO_CHECK(expect.frame_skip == 0 || expect.frame_skip == meta_.frame_skip,
             "recorded with frame_skip ", meta_.frame_skip, ", this run uses ", expect.frame_skip);

  const long n = f.attr_long("/", "num_episodes");
  DEMO_CHECK(n > 0, "holds no episodes (num_episodes = ", n, ")");
  DEMO_CHECK(f.exists("episodes"), "no /episodes group");
  const size_t listed = f.list("episodes").size();
  DEMO_CHECK(listed == size_t(n), "num_episodes is ", n, " but /episodes has ", listed, " members");

  // Validate every episode's datasets before reading any frames.
  episodes_.resize(size_t(n));
  for (int i = 0; i < int(n); ++i) {
    const std::string ep = episode_path(i);
    DEMO_CHECK(f.exists(ep), "episode ", i, " is missing (/", ep, ")");
    for (const char* d : {"frames", "returns", "length"})
      DEMO_CHECK(f.exists(ep + "/" + d), "episode ", i, " has no '", d, "' dataset");
    const Shape fs = f.shape(ep + "/frames");
    const DType fd = f.dtype(ep + "/frames");
    DEMO_CHECK(fd == DType::u8, "episode ", i, " frames are ", dtype_name(fd), ", expected uint8");
    DEMO_CHECK(fs.ndim() == 3, "episode ", i, " frames have shape ", fs.str(),
               ", expected rank 3 [T, H, W]");
    DEMO_CHECK(fs[1] == h && fs[2] == w, "episode ", i, " frames have shape ", fs.str(),
               ", the file's frame size is ", h, "x", w);
    DEMO_CHECK(f.dtype(ep + "/returns") == DType::f64 && f.shape(ep + "/returns") == Shape{1},
               "episode ", i, " 'returns' must be float64 [1]");
    DEMO_CHECK(f.dtype(ep + "/length") == DType::i32 && f.shape(ep + "/length") == Shape{1},
               "episode ", i, " 'length' must be int32 [1]");
    Episode& e = episodes_[size_t(i)];
    e.length = f.read(ep + "/length").data<int32_t>()[0];
    e.ret = f.read(ep + "/returns").data<double>()[0];
    DEMO_CHECK(e.length >= 1, "episode ", i, " has length ", e.length, ", need at least 1 step");
    DEMO_CHECK(fs[0] == int64_t(e.length) + 1, "episode ", i, " has length ", e.length, " but ",
               fs[0], " frames (expected length + 1 = ", int64_t(e.length) + 1, ")");
    DEMO_CHECK(fs[0] >= expect.k, "episode ", i, " has ", fs[0],
               " frames, fewer than the stack size k = ", expect.k);
  }
  for (int i = 0; i < int(n); ++i)
    episodes_[size_t(i)].frames = f.read(episode_path(i) + "/frames");
}

#undef DEMO_CHECK

const DemoSet::Episode& DemoSet::episode(int ep) const {
  RM_CHECK(ep >= 0 && ep < num_episodes(), "demonstrations '", path_, "': episode ", ep,
           " out of range [0, ", num_episodes(), ")");
  return episodes_[size_t(ep)];
}

const uint8_t* DemoSet::frames(int ep) const {
  return episode(ep).frames.data<uint8_t>();
}

int64_t DemoSet::num_positions(int first_t) const {
  RM_CHECK(first_t >= 0, "demonstrations: negative first_t ", first_t);
  int64_t total = 0;
  for (const Episode& e : episodes_) total += std::max<int64_t>(int64_t(e.length) + 1 - first_t, 0);
  return total;
}

void DemoSet::sample_positions(int count, Rng& rng, int* episodes, int* ts, int first_t) const {
  RM_CHECK(count >= 0, "demonstrations: negative sample count ", count);
  // cum[i] = positions in episodes [0, i]; a uniform index into the total picks (episode, t).
  std::vector<int64_t> cum(episodes_.size());
  int64_t total = 0;
  for (size_t i = 0; i < episodes_.size(); ++i) {
    total += std::max<int64_t>(int64_t(episodes_[i].length) + 1 - first_t, 0);
    cum[i] = total;
  }
  RM_CHECK(first_t >= 0 && total > 0, "demonstrations '", path_,
           "': no positions with t >= ", first_t);
  for (int s = 0; s < count; ++s) {
    const int64_t u = int64_t(rng.below(uint64_t(total)));
    const size_t ep = size_t(std::upper_bound(cum.begin(), cum.end(), u) - cum.begin());
    const int64_t before = ep == 0 ? 0 : cum[ep - 1];
    episodes[s] = int(ep);
    ts[s] = int(u - before) + first_t;
  }
}

void DemoSet::window(int ep, int t, int k, uint8_t* out) const {
  const Episode& e = episode(ep);
  RM_CHECK(k >= 1, "demonstrations: stack size k = ", k, ", need at least 1");
  RM_CHECK(t >= 0 && t <= e.length, "demonstrations '", path_, "': frame ", t,
           " out of range for episode ", ep, " with ", e.length + 1, " frames");
  const size_t fsz = size_t(frame_size());
  const uint8_t* src = e.frames.data<uint8_t>();
  // Slot j (oldest first) holds frame t - (k - 1) + j, clamped to the episode's first frame.
  for (int j = 0; j < k; ++j) {
    const int f = std::max(t - (k - 1) + j, 0);
    std::memcpy(out + size_t(j) * fsz, src + size_t(f) * fsz, fsz);
  }
}

void DemoSet::sample_windows(int count, int k, Rng& rng, uint8_t* out, int first_t) const {
  std::vector<int> eps(size_t(std::max(count, 0))), ts(eps.size());
  sample_positions(count, rng, eps.data(), ts.data(), first_t);
  const size_t stride = size_t(k) * size_t(frame_size());
  for (int s = 0; s < count; ++s)
    window(eps[size_t(s)], ts[size_t(s)], k, out + size_t(s) * stride);
}

}  // namespace relmimic::env
