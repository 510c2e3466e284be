// A test-time probe of a trained discriminator: what does D look at? It scores expert windows
// as they are and after transformations that keep each frame but remove or scramble the motion
// between the k slots of a window:
//   expert    the demonstrations' windows (states reached by a step, t >= 1)
//   newest    the same windows with every slot replaced by the newest one (slot k-1): no motion
//   shuffled  the same windows with their k slots in a random order other than the original
// A D that rewards motion scores `expert` clearly above `newest`; one that scores them alike
// judges single frames (poses, appearance) only. The transformations work on windows of k equal
// slots of bytes, so they serve frame windows (a slot = one H x W frame) and windows of state
// vectors (a slot = one observation) alike.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/rng.h"
#include "engine/tensor.h"

namespace relmimic::algos {

// windows: B windows of k slots of slot_bytes bytes each, in place.
void repeat_newest_slot(uint8_t* windows, long B, int k, long slot_bytes);
// Each window's slots in a permutation drawn from rng that differs from the identity (k >= 2;
// k = 1 leaves the windows as they are).
void shuffle_slots(uint8_t* windows, long B, int k, long slot_bytes, Rng& rng);

struct ProbeRow {
  std::string name;  // "expert", "newest", "shuffled"
  std::string what;  // one line describing the windows
  long windows = 0;
  double mean_d = 0;      // mean sigmoid(logit)
  double mean_logit = 0;  // mean logit
  double std_logit = 0;   // population std of the logits
};

// Logits of windows [B, k, ...] (the tensor's layout) into out[B].
using WindowScorer = std::function<void(const Tensor& windows, double* logits)>;

// Scores `expert` [B, k, ...] (host, u8 or any dtype: slots are byte ranges) as it is, with its
// newest slot repeated, and with its slots shuffled (from seed). One row each, in that order.
std::vector<ProbeRow> probe_windows(const Tensor& expert, const WindowScorer& score, uint64_t seed);

struct ProbeOptions {
  std::string checkpoint;  // an imitation checkpoint (latest.h5, best.h5, final.h5, ...)
  std::string demos;       // demonstrations of the checkpoint's env, frame size and frame skip
  int windows = 1024;      // expert windows drawn uniformly (t >= 1)
  uint64_t seed = 0;       // the windows drawn and the shuffles
};

// Loads the checkpoint's discriminator (on the cpu) and the demonstrations (validated against
// the checkpoint's config), draws the windows and probes them. Throws one line naming the file
// when the checkpoint is not an imitation checkpoint or the demonstrations do not fit it.
std::vector<ProbeRow> probe_checkpoint(const ProbeOptions& o);

}  // namespace relmimic::algos
