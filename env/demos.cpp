#include "env/demos.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "engine/sha256.h"
#include "env/locomotion.h"

namespace relmimic::env {

namespace {
const DemoMeta& checked(const DemoMeta& m) {
  parse_task(m.env);  // throws on anything but "hopper" | "walker2d"
  if (m.has_frames)
    RM_CHECK(m.frame_height > 0 && m.frame_width > 0, "demonstrations: bad frame size ",
             m.frame_height, "x", m.frame_width);
  else
    RM_CHECK(m.frame_height == 0 && m.frame_width == 0,
             "demonstrations without frames must have frame size 0x0, got ", m.frame_height, "x",
             m.frame_width);
  RM_CHECK(m.has_frames || m.obs_dim > 0,
           "demonstrations: neither frames nor observations to store");
  RM_CHECK(m.obs_dim >= 0 && m.nq >= 0 && m.nv >= 0 && (m.obs_dim == 0 || (m.nq > 0 && m.nv > 0)),
           "demonstrations: bad observation sizes obs_dim=", m.obs_dim, " nq=", m.nq, " nv=", m.nv);
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
  DemoEpisode e;
  e.frames = frames;
  e.ret = ret;
  e.length = length;
  add_episode(e);
}

void DemoWriter::add_episode(const DemoEpisode& e) {
  const int length = e.length;
  RM_CHECK(length >= 1, "demonstration episode ", n_, ": length ", length, ", need at least 1");
  auto check = [&](const Tensor& t, DType dt, const Shape& shape, const char* what) {
    RM_CHECK(t.defined(), "demonstration episode ", n_, ": no ", what);
    RM_CHECK(t.device().is_cpu() && t.dtype() == dt, "demonstration ", what, " must be host ",
             dtype_name(dt), ", got ", dtype_name(t.dtype()), " on ", t.device().str());
    t.check_shape(shape, (std::string("demonstration ") + what).c_str());
  };
  const int64_t rows = int64_t(length) + 1;
  if (meta_.has_frames)
    check(e.frames, DType::u8, {rows, meta_.frame_height, meta_.frame_width},
          "frames [length + 1, H, W]");
  else
    RM_CHECK(!e.frames.defined(), "demonstration episode ", n_,
             ": frames given to a file without frames");
  if (meta_.obs_dim > 0) {
    check(e.obs, DType::f32, {rows, meta_.obs_dim}, "obs [length + 1, obs_dim]");
    check(e.qpos, DType::f64, {rows, meta_.nq}, "qpos [length + 1, nq]");
    check(e.qvel, DType::f64, {rows, meta_.nv}, "qvel [length + 1, nv]");
  } else {
    RM_CHECK(!e.obs.defined(), "demonstration episode ", n_,
             ": observations given to a file declared without them (obs_dim 0)");
  }
  h5::File& f = w_.file();
  const std::string ep = episode_path(n_);
  if (meta_.has_frames) f.write(ep + "/frames", e.frames, /*compress=*/true);
  if (meta_.obs_dim > 0) {
    f.write(ep + "/obs", e.obs);
    f.write(ep + "/qpos", e.qpos);
    f.write(ep + "/qvel", e.qvel);
  }
  f.write(ep + "/returns", std::vector<double>{e.ret});
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
  f.set_attr("/", "has_frames", meta_.has_frames ? 1 : 0);
  f.set_attr("/", "obs_dim", meta_.obs_dim);
  f.set_attr("/", "nq", meta_.nq);
  f.set_attr("/", "nv", meta_.nv);
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
  DEMO_CHECK(version == 1 || version == kDemoFormatVersion, "format_version ", version,
             " is not supported (this build reads 1 and ", kDemoFormatVersion, ")");
  version_ = version;
  if (version >= 2)
    for (const char* a : {"has_frames", "obs_dim", "nq", "nv"})
      DEMO_CHECK(f.has_attr("/", a), "missing attribute '", a, "'");

  meta_.env = f.attr_string("/", "env");
  const long h = f.attr_long("/", "frame_height"), w = f.attr_long("/", "frame_width");
  meta_.has_frames = version < 2 || f.attr_long("/", "has_frames") != 0;
  if (meta_.has_frames)
    DEMO_CHECK(h > 0 && w > 0 && h * w <= (1L << 30), "bad frame size ", h, "x", w);
  meta_.frame_height = meta_.has_frames ? int(h) : 0;
  meta_.frame_width = meta_.has_frames ? int(w) : 0;
  meta_.frame_skip = int(f.attr_long("/", "frame_skip"));
  meta_.camera = f.attr_string("/", "camera");
  meta_.expert_sha256 = f.attr_string("/", "expert_sha256");
  if (version >= 2) {
    const long od = f.attr_long("/", "obs_dim"), nq = f.attr_long("/", "nq"),
               nv = f.attr_long("/", "nv");
    DEMO_CHECK(od >= 0 && od <= 4096 && nq >= 0 && nq <= 4096 && nv >= 0 && nv <= 4096 &&
                   (od == 0 || (nq > 0 && nv > 0)),
               "bad observation sizes obs_dim=", od, " nq=", nq, " nv=", nv);
    meta_.obs_dim = int(od);
    meta_.nq = int(nq);
    meta_.nv = int(nv);
  }

  DEMO_CHECK(expect.env.empty() || meta_.env == expect.env, "recorded on env '", meta_.env,
             "', this run is '", expect.env, "'");
  DEMO_CHECK(!expect.need_frames || meta_.has_frames,
             "holds no frames (recorded with --no-frames); imitation from frames needs "
             "demonstrations recorded with frames (relmimic record without --no-frames)");
  DEMO_CHECK(!expect.need_obs || version >= 2,
             "format_version 1 holds frames only; imitation from states (--obs state) needs "
             "observations: record the demonstrations again with this relmimic (format version ",
             kDemoFormatVersion, ")");
  DEMO_CHECK(!expect.need_obs || meta_.obs_dim > 0,
             "holds no observations; imitation from states (--obs state) needs a file recorded "
             "with them (relmimic record)");
  DEMO_CHECK(!expect.need_obs || expect.obs_dim == 0 || meta_.obs_dim == expect.obs_dim,
             "observations are ", meta_.obs_dim, "-dimensional, this run's env has ",
             expect.obs_dim);
  if (expect.need_frames)
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
    for (const char* d : {"returns", "length"})
      DEMO_CHECK(f.exists(ep + "/" + d), "episode ", i, " has no '", d, "' dataset");
    DEMO_CHECK(f.dtype(ep + "/returns") == DType::f64 && f.shape(ep + "/returns") == Shape{1},
               "episode ", i, " 'returns' must be float64 [1]");
    DEMO_CHECK(f.dtype(ep + "/length") == DType::i32 && f.shape(ep + "/length") == Shape{1},
               "episode ", i, " 'length' must be int32 [1]");
    Episode& e = episodes_[size_t(i)];
    e.length = f.read(ep + "/length").data<int32_t>()[0];
    e.ret = f.read(ep + "/returns").data<double>()[0];
    DEMO_CHECK(e.length >= 1, "episode ", i, " has length ", e.length, ", need at least 1 step");
    const int64_t rows = int64_t(e.length) + 1;
    if (meta_.has_frames) {
      DEMO_CHECK(f.exists(ep + "/frames"), "episode ", i, " has no 'frames' dataset");
      const Shape fs = f.shape(ep + "/frames");
      const DType fd = f.dtype(ep + "/frames");
      DEMO_CHECK(fd == DType::u8, "episode ", i, " frames are ", dtype_name(fd),
                 ", expected uint8");
      DEMO_CHECK(fs.ndim() == 3, "episode ", i, " frames have shape ", fs.str(),
                 ", expected rank 3 [T, H, W]");
      DEMO_CHECK(fs[1] == h && fs[2] == w, "episode ", i, " frames have shape ", fs.str(),
                 ", the file's frame size is ", h, "x", w);
      DEMO_CHECK(fs[0] == rows, "episode ", i, " has length ", e.length, " but ", fs[0],
                 " frames (expected length + 1 = ", rows, ")");
    }
    if (meta_.obs_dim > 0) {
      const std::pair<const char*, Shape> rows_of[] = {{"obs", Shape{rows, meta_.obs_dim}},
                                                       {"qpos", Shape{rows, meta_.nq}},
                                                       {"qvel", Shape{rows, meta_.nv}}};
      for (const auto& [d, want] : rows_of) {
        const std::string p = ep + "/" + d;
        DEMO_CHECK(f.exists(p), "episode ", i, " has no '", d, "' dataset");
        const DType want_dt = std::string(d) == "obs" ? DType::f32 : DType::f64;
        DEMO_CHECK(f.dtype(p) == want_dt && f.shape(p) == want, "episode ", i, " '", d, "' is ",
                   dtype_name(f.dtype(p)), " ", f.shape(p).str(), ", expected ",
                   dtype_name(want_dt), " ", want.str(), " (length + 1 rows)");
      }
    }
    DEMO_CHECK(rows >= expect.k, "episode ", i, " has ", rows,
               " frames, fewer than the stack size k = ", expect.k);
  }
  // Every episode's frames and observations end to end, in one block each (rows()).
  long total = 0;
  for (Episode& e : episodes_) {
    e.first_row = total;
    total += long(e.length) + 1;
  }
  DEMO_CHECK(total <= long(INT32_MAX), "holds ", total,
             " frames, more than a row index addresses (2^31 - 1)");
  const bool load_frames = meta_.has_frames && expect.need_frames;
  if (load_frames) frame_rows_ = Tensor::zeros({total, h, w}, DType::u8);
  if (meta_.obs_dim > 0) obs_rows_ = Tensor::zeros({total, meta_.obs_dim}, DType::f32);
  for (int i = 0; i < int(n); ++i) {
    Episode& e = episodes_[size_t(i)];
    const std::string ep = episode_path(i);
    const long end = e.first_row + e.length + 1;
    if (load_frames) {
      e.frames = frame_rows_.slice(e.first_row, end);
      f.read_into(ep + "/frames", e.frames);
    }
    if (meta_.obs_dim > 0) {
      e.obs = obs_rows_.slice(e.first_row, end);
      f.read_into(ep + "/obs", e.obs);
      e.qpos = f.read(ep + "/qpos");
      e.qvel = f.read(ep + "/qvel");
    }
  }
}

#undef DEMO_CHECK

const DemoSet::Episode& DemoSet::episode(int ep) const {
  RM_CHECK(ep >= 0 && ep < num_episodes(), "demonstrations '", path_, "': episode ", ep,
           " out of range [0, ", num_episodes(), ")");
  return episodes_[size_t(ep)];
}

const uint8_t* DemoSet::frames(int ep) const {
  const Episode& e = episode(ep);
  RM_CHECK(e.frames.defined(), "demonstrations '", path_, "': frames were not loaded (",
           meta_.has_frames ? "loaded without need_frames" : "the file holds none", ")");
  return e.frames.data<uint8_t>();
}

namespace {
template <class T>
const T* rows_or_fail(const Tensor& t, const std::string& path, const char* what) {
  RM_CHECK(t.defined(), "demonstrations '", path, "': the file holds no ", what,
           " (format version 1 or recorded without observations)");
  return t.data<T>();
}
}  // namespace

const float* DemoSet::obs(int ep) const {
  return rows_or_fail<float>(episode(ep).obs, path_, "observations");
}
const double* DemoSet::qpos(int ep) const {
  return rows_or_fail<double>(episode(ep).qpos, path_, "qpos");
}
const double* DemoSet::qvel(int ep) const {
  return rows_or_fail<double>(episode(ep).qvel, path_, "qvel");
}

void DemoSet::obs_moments(std::vector<double>& mean, std::vector<double>& std) const {
  const int D = meta_.obs_dim;
  RM_CHECK(D > 0, "demonstrations '", path_, "': the file holds no observations");
  mean.assign(size_t(D), 0.0);
  std::vector<double> m2(size_t(D), 0.0);
  double n = 0;
  for (int ep = 0; ep < num_episodes(); ++ep) {
    const float* o = obs(ep);
    for (int r = 0; r < num_frames(ep); ++r) {  // Welford, row by row
      n += 1;
      for (int j = 0; j < D; ++j) {
        const double x = o[size_t(r) * D + j], d = x - mean[size_t(j)];
        mean[size_t(j)] += d / n;
        m2[size_t(j)] += d * (x - mean[size_t(j)]);
      }
    }
  }
  std.resize(size_t(D));
  for (int j = 0; j < D; ++j) std[size_t(j)] = std::sqrt(m2[size_t(j)] / n);
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
  const uint8_t* src = frames(ep);
  // Slot j (oldest first) holds frame t - (k - 1) + j, clamped to the episode's first frame.
  for (int j = 0; j < k; ++j) {
    const int f = std::max(t - (k - 1) + j, 0);
    std::memcpy(out + size_t(j) * fsz, src + size_t(f) * fsz, fsz);
  }
}

void DemoSet::obs_window(int ep, int t, int k, float* out) const {
  const Episode& e = episode(ep);
  RM_CHECK(k >= 1, "demonstrations: stack size k = ", k, ", need at least 1");
  RM_CHECK(t >= 0 && t <= e.length, "demonstrations '", path_, "': row ", t,
           " out of range for episode ", ep, " with ", e.length + 1, " rows");
  const size_t D = size_t(meta_.obs_dim);
  const float* src = obs(ep);
  for (int j = 0; j < k; ++j) {
    const int r = std::max(t - (k - 1) + j, 0);
    std::memcpy(out + size_t(j) * D, src + size_t(r) * D, D * sizeof(float));
  }
}

void DemoSet::sample_obs_windows(int count, int k, Rng& rng, float* out, int first_t) const {
  std::vector<int> eps(size_t(std::max(count, 0))), ts(eps.size());
  sample_positions(count, rng, eps.data(), ts.data(), first_t);
  const size_t stride = size_t(k) * size_t(meta_.obs_dim);
  for (int s = 0; s < count; ++s)
    obs_window(eps[size_t(s)], ts[size_t(s)], k, out + size_t(s) * stride);
}

void DemoSet::sample_windows(int count, int k, Rng& rng, uint8_t* out, int first_t) const {
  std::vector<int> eps(size_t(std::max(count, 0))), ts(eps.size());
  sample_positions(count, rng, eps.data(), ts.data(), first_t);
  const size_t stride = size_t(k) * size_t(frame_size());
  for (int s = 0; s < count; ++s)
    window(eps[size_t(s)], ts[size_t(s)], k, out + size_t(s) * stride);
}

void DemoSet::sample_window_rows(int count, int k, Rng& rng, int32_t* rows, int first_t) const {
  RM_CHECK(k >= 1, "demonstrations: stack size k = ", k, ", need at least 1");
  std::vector<int> eps(size_t(std::max(count, 0))), ts(eps.size());
  sample_positions(count, rng, eps.data(), ts.data(), first_t);
  for (int s = 0; s < count; ++s) {
    const long first = episode(eps[size_t(s)]).first_row;
    for (int j = 0; j < k; ++j)  // window(): slot j is frame max(t - (k - 1) + j, 0)
      rows[size_t(s) * size_t(k) + size_t(j)] =
          int32_t(first + std::max(ts[size_t(s)] - (k - 1) + j, 0));
  }
}

}  // namespace relmimic::env
