#include "algos/probe.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <numeric>

#include "algos/discriminator.h"
#include "algos/imitate.h"
#include "engine/checkpoint.h"
#include "engine/json.h"
#include "env/demos.h"
#include "kernels/common.h"

namespace relmimic::algos {

void repeat_newest_slot(uint8_t* windows, long B, int k, long slot_bytes) {
  for (long b = 0; b < B; ++b) {
    uint8_t* w = windows + b * k * slot_bytes;
    const uint8_t* newest = w + long(k - 1) * slot_bytes;
    for (int j = 0; j + 1 < k; ++j) std::memcpy(w + j * slot_bytes, newest, size_t(slot_bytes));
  }
}

void shuffle_slots(uint8_t* windows, long B, int k, long slot_bytes, Rng& rng) {
  if (k < 2) return;
  std::vector<int> perm(static_cast<size_t>(k));
  std::vector<uint8_t> tmp(size_t(k * slot_bytes));
  for (long b = 0; b < B; ++b) {
    bool identity = true;
    while (identity) {  // Fisher-Yates until the order differs from the original
      std::iota(perm.begin(), perm.end(), 0);
      for (int i = k - 1; i > 0; --i)
        std::swap(perm[size_t(i)], perm[size_t(rng.below(uint64_t(i + 1)))]);
      for (int i = 0; i < k; ++i) identity = identity && perm[size_t(i)] == i;
    }
    uint8_t* w = windows + b * k * slot_bytes;
    std::memcpy(tmp.data(), w, tmp.size());
    for (int j = 0; j < k; ++j)
      std::memcpy(w + j * slot_bytes, tmp.data() + perm[size_t(j)] * slot_bytes,
                  size_t(slot_bytes));
  }
}

namespace {
Tensor copy_of(const Tensor& t) {
  Tensor c = Tensor::zeros(t.shape(), t.dtype());
  c.copy_from(t);
  return c;
}

ProbeRow score_row(const std::string& name, const std::string& what, const Tensor& windows,
                   const WindowScorer& score) {
  const long B = windows.dim(0);
  std::vector<double> l(static_cast<size_t>(B));
  score(windows, l.data());
  ProbeRow r{name, what, B, 0, 0, 0};
  double s2 = 0;
  for (double v : l) {
    RM_CHECK(std::isfinite(v), "probe: D's logit on a ", name, " window is not finite (", v, ")");
    r.mean_d += 1.0 / (1.0 + std::exp(-v)) / double(B);
    r.mean_logit += v / double(B);
    s2 += v * v / double(B);
  }
  r.std_logit = std::sqrt(std::max(0.0, s2 - r.mean_logit * r.mean_logit));
  return r;
}
}  // namespace

std::vector<ProbeRow> probe_windows(const Tensor& expert, const WindowScorer& score,
                                    uint64_t seed) {
  RM_CHECK(expert.defined() && expert.ndim() >= 2 && expert.dim(0) >= 1 && expert.dim(1) >= 1,
           "probe: expected windows [B, k, ...] with B, k >= 1, got ",
           expert.defined() ? expert.shape().str() : std::string("none"));
  RM_CHECK(expert.device().is_cpu(), "probe: windows must be in host memory");
  const long B = expert.dim(0);
  const int k = int(expert.dim(1));
  const long slot = long(expert.nbytes()) / (B * k);
  std::vector<ProbeRow> rows;
  rows.push_back(score_row("expert", "the demonstrations' windows", expert, score));

  Tensor t = copy_of(expert);
  repeat_newest_slot(static_cast<uint8_t*>(t.raw()), B, k, slot);
  rows.push_back(score_row("newest", "every slot = the newest (no motion)", t, score));

  t = copy_of(expert);
  Rng rng(Rng::derive(seed, 1));
  shuffle_slots(static_cast<uint8_t*>(t.raw()), B, k, slot, rng);
  rows.push_back(score_row("shuffled", "slots in a shuffled order", t, score));
  return rows;
}

std::vector<ProbeRow> probe_checkpoint(const ProbeOptions& o) {
  RM_CHECK(!o.checkpoint.empty(), "probe: no checkpoint given (--checkpoint)");
  RM_CHECK(!o.demos.empty(), "probe: no demonstrations given (--demos)");
  RM_CHECK(o.windows >= 1, "probe: --windows must be >= 1, got ", o.windows);
  RM_CHECK(std::filesystem::is_regular_file(o.checkpoint), o.checkpoint, ": no such file");
  CheckpointReader r(o.checkpoint);
  RM_CHECK(r.file().has_attr("/", "imitate_config") && r.has("discriminator"), o.checkpoint,
           ": not an imitation checkpoint (no discriminator)");
  Config cfg;
  declare_imitation(cfg);
  const std::string where = o.checkpoint + ":imitate_config";
  cfg.load_json(json::parse(r.string("imitate_config"), where), where);
  const PpoSettings ppo = ppo_settings(cfg);
  RM_CHECK(!imitation_settings(cfg).disc_states, o.checkpoint,
           ": its discriminator scores states (imitate.obs or imitate.disc_obs = state); the "
           "probe scores frame windows only");

  DiscriminatorConfig dc = discriminator_config(cfg, 0);
  dc.device = Device::cpu();
  Discriminator<float> d(dc);
  d.load(r, "discriminator");

  env::DemoExpect expect;
  expect.env = env::task_name(ppo.task);
  expect.frame_height = expect.frame_width = dc.height;
  expect.frame_skip = env::TaskConfig::defaults(ppo.task).frame_skip;
  expect.k = dc.frames;
  const env::DemoSet demos(o.demos, expect);
  Tensor windows = Tensor::zeros({o.windows, dc.frames, dc.height, dc.width}, DType::u8);
  Rng rng(Rng::derive(o.seed, 0));
  demos.sample_windows(o.windows, dc.frames, rng, windows.data<uint8_t>(), 1);

  std::vector<float> logits(size_t(o.windows));
  const WindowScorer score = [&](const Tensor& w, double* out) {
    d.logits(w, logits.data());
    for (long i = 0; i < w.dim(0); ++i) out[i] = double(logits[size_t(i)]);
  };
  return probe_windows(windows, score, o.seed);
}

}  // namespace relmimic::algos
