// `relmimic render`: one env's frames under random actions, as a PNG grid and optionally an
// animated GIF.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "env/renderer.h"
#include "report/media.h"
#include "tools/cli.h"
#include "tools/commands.h"
#include "tools/random_env.h"

namespace relmimic::cli {

int cmd_render(int argc, char** argv) {
  std::string env_name = "hopper", out, gif, egl;
  long seed = 0, steps = 16;
  int size = 84, cols = 0, fps = 25;
  bool rgb = false, shadows = false;
  Args a("render",
         "renders one env under uniform random actions in [-1, 1] from its track camera: the\n"
         "reset frame and one frame per step (N+1 frames), laid out on a grid in a PNG, and\n"
         "optionally as an animated GIF");
  add_random_env_flags(a, env_name, seed, steps);
  a.add("--out", out, "output PNG (required)");
  a.add("--gif", gif, "also write the frames as an animated GIF here");
  a.add("--size", size, "frame width and height in pixels");
  a.add("--cols", cols,
        "frames per grid row (0: one row up to 10 frames, else a near-square grid)");
  a.add("--fps", fps, "GIF frame rate");
  a.add("--egl", egl, "EGL platform: auto, nvidia or mesa (default: $RELMIMIC_EGL or auto)");
  a.flag("--rgb", rgb, "write the PNG in colour (the GIF stays gray)");
  a.flag("--shadows", shadows, "render shadows (slower)");
  if (!a.parse(argc, argv)) return a.exit_code();
  if (out.empty()) return usage_error("render", "--out is required");
  if (steps < 0 || steps > 100000)
    return usage_error("render", "--steps must be in [0, 100000], got " + std::to_string(steps));
  if (size < 16 || size > 1024)
    return usage_error("render", "--size must be in [16, 1024], got " + std::to_string(size));
  if (cols < 0) return usage_error("render", "--cols must be >= 0");
  if (fps < 1 || fps > 100) return usage_error("render", "--fps must be in [1, 100]");
  if (seed < 0) return usage_error("render", "--seed must be >= 0");
  if (!egl.empty() && egl != "auto" && egl != "nvidia" && egl != "mesa")
    return usage_error("render", "--egl must be auto, nvidia or mesa, got '" + egl + "'");
  const std::optional<env::Task> task = env_task(env_name);
  if (!task)
    return usage_error("render", "--env: unknown env '" + env_name + "' (hopper or walker2d)");

  env::LocomotionEnv e(*task);
  env::RenderConfig rc;
  rc.width = rc.height = size;
  rc.egl = egl;
  rc.shadows = shadows;
  env::Renderer r(e.model(), rc);
  Rng env_rng(env_stream(seed)), act_rng(static_cast<uint64_t>(seed));
  const int n = int(steps) + 1, ch = rgb ? 3 : 1;
  const size_t hw = size_t(size) * size;
  std::vector<uint8_t> frames(n * hw), colour(rgb ? n * hw * 3 : 0);
  std::vector<double> act(size_t(e.action_dim()));
  e.reset(env_rng);
  for (int i = 0; i < n; ++i) {
    if (i > 0) {
      for (double& x : act) x = random_action(act_rng);
      const env::StepResult s = e.step(act.data());
      if (s.terminated || s.truncated) e.reset(env_rng);
    }
    r.render_gray(e.data(), &frames[i * hw]);
    if (rgb) r.render_rgb(e.data(), &colour[i * hw * 3]);
  }
  if (cols == 0) cols = n <= 10 ? n : std::max(10, int(std::ceil(std::sqrt(double(n)))));
  report::Image grid =
      report::tile_images(rgb ? colour.data() : frames.data(), n, size, size, ch, cols, 2, 255);
  report::write_png(out, grid.pixels.data(), grid.height, grid.width, ch);
  std::printf("wrote %s: %d frames of %dx%d (%s, seed %ld), %dx%d grid\n", out.c_str(), n, size,
              size, env::task_name(*task), seed, grid.width, grid.height);
  if (!gif.empty()) {
    report::write_gif(gif, frames.data(), n, size, size, int(std::lround(100.0 / fps)));
    std::printf("wrote %s: %d frames at %d fps\n", gif.c_str(), n, fps);
  }
  return 0;
}

}  // namespace relmimic::cli
