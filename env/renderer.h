// Headless offscreen rendering of a MuJoCo model through EGL (no X server, no window).
// Device choice: the NVIDIA EGL device on GPU machines, else Mesa's surfaceless platform
// (llvmpipe on CPU). One EGL context per Renderer, current on the thread that created it; the EGL
// display is shared by all of them and lives until the process exits.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

struct mjModel_;
struct mjData_;

namespace relmimic::env {

struct RenderConfig {
  int width = 84;  // the paper renders straight at 84x84
  int height = 84;
  std::string camera = "track";  // the model's camera (Gym v3: trackcom, side view)
  // "auto" | "nvidia" | "mesa". Empty: $RELMIMIC_EGL, or "auto" when that is unset.
  std::string egl;
  int egl_device = 0;  // which NVIDIA EGL device ("nvidia"/"auto" on multi-GPU machines)
  // Speed settings, measured per llvmpipe core (Hopper, 84x84 gray, CPU time per frame):
  // capsule tessellation 28x16 (MuJoCo's default) -> 12x6 takes ~1.0 ms to ~0.5 ms and changes
  // nothing visible at 84x84; the floor's mirror pass (reflections) adds ~50%, shadows ~3x.
  // Both are off by default: the robot stays dark and sharp against the lit checker floor, and
  // a rendered env step then costs ~0.45 ms of one core (>= 2000 steps/s on one free core).
  bool shadows = false;
  bool reflections = false;
  int shadow_size = 1024;     // shadow map texels per side when shadows are on
  int geom_slices = 12;       // vis.quality.numslices
  int geom_stacks = 6;        // vis.quality.numstacks
  double min_floor_grid = 1;  // planes' render grid spacing (3rd size); Gym's 0.125 is ~40k quads
};

// What the EGL/GL stack reported at initialisation (logged once per process).
struct GlInfo {
  std::string platform;  // "nvidia-device" or "mesa-surfaceless"
  std::string vendor, renderer, version;
};

class Renderer {
 public:
  // Creates an EGL context, current on the calling thread, and MuJoCo's GPU resources for a
  // render-only copy of `model` (offscreen buffer width x height, fast visual settings).
  Renderer(const mjModel_* model, const RenderConfig& cfg);
  ~Renderer();  // call on the thread that uses it (the context is freed there)
  Renderer(const Renderer&) = delete;
  Renderer& operator=(const Renderer&) = delete;

  // The camera's view of `data` (a state of the model given at construction).
  void render_gray(mjData_* data, uint8_t* gray);  // [H, W] uint8, rows top-down
  void render_rgb(mjData_* data, uint8_t* rgb);    // [H, W, 3] uint8, rows top-down

  // For the CUDA-GL interop path (env/frames_cuda.h): draws the camera's view of `data` into the
  // offscreen buffer without reading it back (makes the context current; throws on a GL error).
  // The colour attachment is the GL_RGBA8 renderbuffer color_renderbuffer(), rows bottom-up.
  void draw(mjData_* data);
  unsigned color_renderbuffer() const;
  void make_current();  // the context current on the calling thread

  int width() const;
  int height() const;
  const GlInfo& gl_info() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Platform choice after applying $RELMIMIC_EGL: "auto", "nvidia" or "mesa"; throws otherwise.
std::string resolve_egl_choice(const std::string& configured);

}  // namespace relmimic::env
