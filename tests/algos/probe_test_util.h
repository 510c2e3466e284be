// Shared by the probe tests (tests/algos, tests/tools): demonstrations whose windows hold motion
// (a bright square moving right) and a checkpoint that holds just what `relmimic probe` reads.
#pragma once

#include <string>
#include <vector>

#include "algos/discriminator.h"
#include "engine/checkpoint.h"
#include "engine/config.h"
#include "env/demos.h"

namespace relmimic::testing {

// Episodes of size x size frames: a 6x6 white square on black, starting at a per-episode column
// and moving 4 pixels right per step (wrapping around).
inline void write_moving_square_demos(const std::string& path, int size,
                                      const std::vector<int>& lengths) {
  env::DemoMeta meta;
  meta.env = "hopper";
  meta.frame_height = meta.frame_width = size;
  meta.expert_sha256 = std::string(64, 'b');
  env::DemoWriter w(path, meta);
  for (size_t e = 0; e < lengths.size(); ++e) {
    const int len = lengths[e];
    Tensor t = Tensor::zeros({len + 1, size, size}, DType::u8);
    const int y0 = int(3 + 5 * e) % (size - 6);
    for (int f = 0; f <= len; ++f) {
      const int x0 = int(7 * e + 4 * f) % (size - 6);
      for (int y = y0; y < y0 + 6; ++y)
        for (int x = x0; x < x0 + 6; ++x) t.data<uint8_t>()[(long(f) * size + y) * size + x] = 255;
    }
    w.add_episode(t, 100.0 + len, len);
  }
  w.commit();
}

// An imitation checkpoint as far as the probe reads one: the run's config and its
// discriminator.
inline void write_disc_checkpoint(const std::string& path, const Config& cfg,
                                  algos::Discriminator<float>& d) {
  CheckpointWriter w(path);
  w.set_string("run_kind", "imitate");
  w.set_string("imitate_config", cfg.dump());
  d.save(w, "discriminator");
  w.commit();
}

}  // namespace relmimic::testing
