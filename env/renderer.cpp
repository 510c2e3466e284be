// EGL context + MuJoCo offscreen rendering. Call order (shared notes, rendering.md):
// display (device or surfaceless) -> eglBindAPI(OpenGL) -> config -> context -> make current ->
// mjv_makeScene -> mjr_makeContext -> mjr_setBuffer(offscreen); per frame mjv_updateScene ->
// mjr_render -> mjr_readPixels (bottom-up rows, flipped while converting).
#include "env/renderer.h"

#include <EGL/egl.h>
#include <EGL/eglext.h>
#include <mujoco/mujoco.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <vector>

#include "env/locomotion.h"
#include "kernels/common.h"
#include "kernels/image.h"

namespace relmimic::env {

namespace {

const char* egl_error_name(EGLint e) {
  static const struct {
    EGLint code;
    const char* name;
  } kNames[] = {
      {EGL_SUCCESS, "EGL_SUCCESS"},
      {EGL_NOT_INITIALIZED, "EGL_NOT_INITIALIZED"},
      {EGL_BAD_ACCESS, "EGL_BAD_ACCESS"},
      {EGL_BAD_ALLOC, "EGL_BAD_ALLOC"},
      {EGL_BAD_ATTRIBUTE, "EGL_BAD_ATTRIBUTE"},
      {EGL_BAD_CONFIG, "EGL_BAD_CONFIG"},
      {EGL_BAD_CONTEXT, "EGL_BAD_CONTEXT"},
      {EGL_BAD_CURRENT_SURFACE, "EGL_BAD_CURRENT_SURFACE"},
      {EGL_BAD_DISPLAY, "EGL_BAD_DISPLAY"},
      {EGL_BAD_MATCH, "EGL_BAD_MATCH"},
      {EGL_BAD_NATIVE_PIXMAP, "EGL_BAD_NATIVE_PIXMAP"},
      {EGL_BAD_NATIVE_WINDOW, "EGL_BAD_NATIVE_WINDOW"},
      {EGL_BAD_PARAMETER, "EGL_BAD_PARAMETER"},
      {EGL_BAD_SURFACE, "EGL_BAD_SURFACE"},
      {EGL_CONTEXT_LOST, "EGL_CONTEXT_LOST"},
  };
  for (const auto& n : kNames)
    if (n.code == e) return n.name;
  return "unknown EGL error";
}

[[noreturn]] void egl_fail(const char* call, const char* file, int line) {
  EGLint e = eglGetError();
  char code[16];
  std::snprintf(code, sizeof code, "0x%04X", unsigned(e));
  ::relmimic::detail::fail(file, line, call, call, " failed: ", egl_error_name(e), " (", code, ")");
}

}  // namespace

// EGL_CHECK(expr): expr is an EGL call returning EGLBoolean, or a comparison of a returned
// handle against its EGL_NO_* value; on failure throws naming the call and eglGetError's code.
#define EGL_CHECK(expr)                               \
  do {                                                \
    if (!(expr)) egl_fail(#expr, __FILE__, __LINE__); \
  } while (0)

namespace {

template <class F>
F egl_proc(const char* name) {
  auto p = reinterpret_cast<F>(eglGetProcAddress(name));
  RM_CHECK(p, "EGL: ", name, " is not available (libEGL without the extension)");
  return p;
}

bool has_word(const char* list, const char* word) {
  if (!list) return false;
  const size_t n = std::strlen(word);
  for (const char* p = list; (p = std::strstr(p, word)); p += n)
    if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == 0)) return true;
  return false;
}

struct Display {
  EGLDisplay dpy = EGL_NO_DISPLAY;
  std::string platform;
  bool want_nvidia = false;  // GL_VENDOR must then say NVIDIA
};

// NVIDIA EGL devices (those exposing the CUDA device extension), in enumeration order.
std::vector<EGLDeviceEXT> nvidia_devices() {
  const char* client_ext = eglQueryString(EGL_NO_DISPLAY, EGL_EXTENSIONS);
  if (!has_word(client_ext, "EGL_EXT_device_enumeration") &&
      !has_word(client_ext, "EGL_EXT_device_base"))
    return {};
  auto query_devices = egl_proc<PFNEGLQUERYDEVICESEXTPROC>("eglQueryDevicesEXT");
  auto query_string = egl_proc<PFNEGLQUERYDEVICESTRINGEXTPROC>("eglQueryDeviceStringEXT");
  EGLint n = 0;
  EGL_CHECK(query_devices(0, nullptr, &n));
  std::vector<EGLDeviceEXT> all(size_t(n > 0 ? n : 0)), nv;
  if (n > 0) EGL_CHECK(query_devices(n, all.data(), &n));
  for (EGLint i = 0; i < n; ++i)
    if (has_word(query_string(all[i], EGL_EXTENSIONS), "EGL_NV_device_cuda")) nv.push_back(all[i]);
  return nv;
}

Display open_display(const std::string& choice, int device_index) {
  Display d;
  auto get_display = egl_proc<PFNEGLGETPLATFORMDISPLAYEXTPROC>("eglGetPlatformDisplayEXT");
  if (choice != "mesa") {
    std::vector<EGLDeviceEXT> nv = nvidia_devices();
    if (choice == "nvidia")
      RM_CHECK(!nv.empty(),
               "EGL: platform 'nvidia' requested but no NVIDIA EGL device was found "
               "(is the NVIDIA driver's libEGL_nvidia installed?)");
    if (!nv.empty()) {
      RM_CHECK(device_index >= 0 && device_index < int(nv.size()), "EGL: NVIDIA device index ",
               device_index, " out of range, ", nv.size(), " NVIDIA EGL device(s) found");
      d.dpy = get_display(EGL_PLATFORM_DEVICE_EXT, nv[size_t(device_index)], nullptr);
      EGL_CHECK(d.dpy != EGL_NO_DISPLAY);
      d.platform = "nvidia-device";
      d.want_nvidia = true;
    }
  }
  if (d.dpy == EGL_NO_DISPLAY) {
    d.dpy = get_display(EGL_PLATFORM_SURFACELESS_MESA, EGL_DEFAULT_DISPLAY, nullptr);
    EGL_CHECK(d.dpy != EGL_NO_DISPLAY);
    d.platform = "mesa-surfaceless";
  }
  EGLint major = 0, minor = 0;
  EGL_CHECK(eglInitialize(d.dpy, &major, &minor));
  return d;
}

std::mutex g_egl_mutex;
// Context set-up and tear-down one at a time: mjr_makeContext loads GL entry points into
// process-wide tables.
std::mutex g_gl_init_mutex;
std::map<std::string, Display> g_displays;  // by "choice:device"; never eglTerminate'd
std::set<std::string> g_logged;             // platforms whose GL strings were printed

// The shared display for a choice, initialised on first use (thread-safe).
Display shared_display(const std::string& choice, int device_index) {
  std::lock_guard<std::mutex> lock(g_egl_mutex);
  if (g_displays.empty()) {
    // llvmpipe spawns one rasteriser thread per core per context unless told not to; the pool
    // already runs one context per worker thread.
    setenv("LP_NUM_THREADS", "0", 0);
    install_mujoco_handlers();  // mjr_* errors throw instead of exit()
  }
  std::string key = choice + ":" + std::to_string(device_index);
  auto it = g_displays.find(key);
  if (it == g_displays.end())
    it = g_displays.emplace(key, open_display(choice, device_index)).first;
  return it->second;
}

}  // namespace

std::string resolve_egl_choice(const std::string& configured) {
  std::string c = configured;
  if (c.empty()) {
    const char* e = std::getenv("RELMIMIC_EGL");
    c = e && *e ? e : "auto";
  }
  RM_CHECK(c == "auto" || c == "nvidia" || c == "mesa", "EGL platform must be auto, nvidia or ",
           "mesa (RenderConfig::egl or $RELMIMIC_EGL), got '", c, "'");
  return c;
}

struct Renderer::Impl {
  RenderConfig cfg;
  GlInfo info;
  EGLDisplay dpy = EGL_NO_DISPLAY;
  EGLContext ctx = EGL_NO_CONTEXT;
  mjModel* model = nullptr;  // render-only copy with the fast visual settings
  mjvScene scn;
  mjrContext con;
  mjvOption opt;
  mjvCamera cam;
  bool scene_made = false, context_made = false;
  std::vector<uint8_t> rgb;  // [H, W, 3] bottom-up, as read back

  ~Impl() {
    std::lock_guard<std::mutex> lock(g_gl_init_mutex);
    if (ctx != EGL_NO_CONTEXT) {
      // mjr_freeContext deletes GL objects: the context must be current here.
      bool current =
          eglGetCurrentContext() == ctx || eglMakeCurrent(dpy, EGL_NO_SURFACE, EGL_NO_SURFACE, ctx);
      if (current && context_made) mjr_freeContext(&con);
      if (current) eglMakeCurrent(dpy, EGL_NO_SURFACE, EGL_NO_SURFACE, EGL_NO_CONTEXT);
      eglDestroyContext(dpy, ctx);
    }
    if (scene_made) mjv_freeScene(&scn);
    if (model) mj_deleteModel(model);
  }

  void make_current() {
    if (eglGetCurrentContext() != ctx)
      EGL_CHECK(eglMakeCurrent(dpy, EGL_NO_SURFACE, EGL_NO_SURFACE, ctx));
  }

  void draw(mjData* data) {
    RM_CHECK(data, "Renderer: null mjData");
    make_current();
    mjrRect viewport = {0, 0, cfg.width, cfg.height};
    mjv_updateScene(model, data, &opt, nullptr, &cam, mjCAT_ALL, &scn);
    mjr_render(viewport, &scn, &con);
  }

  void read(mjData* data) {
    draw(data);
    mjrRect viewport = {0, 0, cfg.width, cfg.height};
    mjr_readPixels(rgb.data(), nullptr, viewport, &con);
  }
};

Renderer::Renderer(const mjModel_* model, const RenderConfig& cfg) : impl_(new Impl) {
  Impl& r = *impl_;
  r.cfg = cfg;
  RM_CHECK(model, "Renderer: null model");
  RM_CHECK(cfg.width >= 1 && cfg.height >= 1 && cfg.width <= 4096 && cfg.height <= 4096,
           "Renderer: frame size must be in [1, 4096], got ", cfg.width, "x", cfg.height);
  RM_CHECK(cfg.shadow_size >= 1, "Renderer: shadow_size must be positive, got ", cfg.shadow_size);
  RM_CHECK(cfg.geom_slices >= 3 && cfg.geom_stacks >= 2, "Renderer: geom tessellation must be ",
           ">= 3 slices and >= 2 stacks, got ", cfg.geom_slices, "x", cfg.geom_stacks);
  const std::string choice = resolve_egl_choice(cfg.egl);
  // Released before impl_ is destroyed when this constructor throws (locals unwind first).
  std::lock_guard<std::mutex> init_lock(g_gl_init_mutex);
  Display d = shared_display(choice, cfg.egl_device);
  r.dpy = d.dpy;
  r.info.platform = d.platform;

  EGL_CHECK(eglBindAPI(EGL_OPENGL_API));  // desktop GL, compatibility profile (not GLES)
  // clang-format off
  const EGLint config_attribs[] = {
      EGL_SURFACE_TYPE, EGL_PBUFFER_BIT, EGL_RENDERABLE_TYPE, EGL_OPENGL_BIT,
      EGL_RED_SIZE, 8, EGL_GREEN_SIZE, 8, EGL_BLUE_SIZE, 8, EGL_ALPHA_SIZE, 8,
      EGL_DEPTH_SIZE, 24, EGL_STENCIL_SIZE, 8, EGL_NONE};
  // clang-format on
  EGLConfig config;
  EGLint n_configs = 0;
  EGL_CHECK(eglChooseConfig(r.dpy, config_attribs, &config, 1, &n_configs));
  RM_CHECK(n_configs > 0, "EGL: no RGBA8/depth24/stencil8 desktop-GL config on ", d.platform);
  r.ctx = eglCreateContext(r.dpy, config, EGL_NO_CONTEXT, nullptr);
  EGL_CHECK(r.ctx != EGL_NO_CONTEXT);
  EGL_CHECK(eglMakeCurrent(r.dpy, EGL_NO_SURFACE, EGL_NO_SURFACE, r.ctx));

  using GetString = const unsigned char* (*)(unsigned);
  auto gl_get_string = reinterpret_cast<GetString>(eglGetProcAddress("glGetString"));
  auto gl_str = [&](unsigned name) -> std::string {
    const unsigned char* s = gl_get_string ? gl_get_string(name) : nullptr;
    return s ? reinterpret_cast<const char*>(s) : "?";
  };
  r.info.vendor = gl_str(0x1F00);  // GL_VENDOR
  r.info.renderer = gl_str(0x1F01);
  r.info.version = gl_str(0x1F02);
  const bool nvidia_gl = r.info.vendor.find("NVIDIA") != std::string::npos;
  {
    std::lock_guard<std::mutex> lock(g_egl_mutex);
    if (g_logged.insert(d.platform).second) {
      std::fprintf(stderr, "relmimic: EGL %s, GL %s | %s | %s\n", d.platform.c_str(),
                   r.info.vendor.c_str(), r.info.renderer.c_str(), r.info.version.c_str());
      if (d.want_nvidia && !nvidia_gl)
        std::fprintf(stderr, "relmimic: warning: NVIDIA EGL device chosen but GL vendor is %s\n",
                     r.info.vendor.c_str());
    }
  }
  if (choice == "nvidia" && !nvidia_gl)
    RM_FAIL("EGL: asked for NVIDIA but the GL vendor is '", r.info.vendor, "' (renderer '",
            r.info.renderer, "')");

  // A failure from here on unwinds through impl_, whose destructor frees what was made.
  r.model = mj_copyModel(nullptr, model);
  RM_CHECK(r.model, "Renderer: could not copy the model");
  mjModel* m = r.model;
  m->vis.global.offwidth = cfg.width;  // the offscreen buffer is sized at mjr_makeContext
  m->vis.global.offheight = cfg.height;
  m->vis.quality.offsamples = 0;  // no MSAA: ~3 ms per frame on llvmpipe
  m->vis.quality.shadowsize = cfg.shadow_size;
  m->vis.quality.numslices = cfg.geom_slices;
  m->vis.quality.numstacks = cfg.geom_stacks;
  for (int g = 0; g < m->ngeom; ++g)
    if (m->geom_type[g] == mjGEOM_PLANE && m->geom_size[3 * g + 2] < cfg.min_floor_grid)
      m->geom_size[3 * g + 2] = cfg.min_floor_grid;

  mjv_defaultCamera(&r.cam);
  if (!cfg.camera.empty()) {
    int cam_id = mj_name2id(m, mjOBJ_CAMERA, cfg.camera.c_str());
    RM_CHECK(cam_id >= 0, "Renderer: the model has no camera named '", cfg.camera, "'");
    r.cam.type = mjCAMERA_FIXED;
    r.cam.fixedcamid = cam_id;
  } else {
    mjv_defaultFreeCamera(m, &r.cam);
  }
  mjv_defaultOption(&r.opt);
  mjv_defaultScene(&r.scn);
  mjr_defaultContext(&r.con);
  mjv_makeScene(m, &r.scn, 1000);
  r.scene_made = true;
  r.scn.flags[mjRND_SHADOW] = cfg.shadows;
  r.scn.flags[mjRND_REFLECTION] = cfg.reflections;
  mjr_makeContext(m, &r.con, mjFONTSCALE_50);
  r.context_made = true;
  mjr_setBuffer(mjFB_OFFSCREEN, &r.con);
  RM_CHECK(r.con.currentBuffer == mjFB_OFFSCREEN, "Renderer: no offscreen framebuffer");
  RM_CHECK(r.con.offWidth == cfg.width && r.con.offHeight == cfg.height,
           "Renderer: offscreen buffer is ", r.con.offWidth, "x", r.con.offHeight, ", asked for ",
           cfg.width, "x", cfg.height);
  r.rgb.resize(size_t(cfg.width) * cfg.height * 3);
}

Renderer::~Renderer() = default;

void Renderer::render_gray(mjData_* data, uint8_t* gray) {
  impl_->read(data);
  kernels::rgb_to_gray_cpu(impl_->cfg.height, impl_->cfg.width, impl_->rgb.data(), gray, true);
}

void Renderer::render_rgb(mjData_* data, uint8_t* rgb) {
  impl_->read(data);
  const int h = impl_->cfg.height;
  const size_t row = size_t(impl_->cfg.width) * 3;
  for (int y = 0; y < h; ++y)
    std::memcpy(rgb + size_t(y) * row, impl_->rgb.data() + size_t(h - 1 - y) * row, row);
}

void Renderer::draw(mjData_* data) {
  // glGetError through EGL: libEGL is the only GL library linked (MuJoCo loads GL the same way).
  using GetError = unsigned (*)();
  static const auto gl_get_error = reinterpret_cast<GetError>(eglGetProcAddress("glGetError"));
  RM_CHECK(gl_get_error, "EGL: glGetError is not available");
  impl_->make_current();
  // Errors left by earlier calls (up to one flag per GL error kind) belong to someone else.
  for (int i = 0; i < 8 && gl_get_error() != 0; ++i) {
  }
  impl_->draw(data);
  const unsigned e = gl_get_error();
  if (e != 0) {
    char code[16];
    std::snprintf(code, sizeof code, "0x%04X", e);
    RM_FAIL("Renderer::draw: GL error ", code, " after mjr_render on ", impl_->info.platform);
  }
}

unsigned Renderer::color_renderbuffer() const {
  // With offsamples = 0 MuJoCo draws straight into offColor (no multisample resolve buffer).
  RM_CHECK(impl_->con.offSamples == 0 && impl_->con.offColor != 0,
           "Renderer: the offscreen colour buffer is multisampled or missing");
  return impl_->con.offColor;
}

void Renderer::make_current() {
  impl_->make_current();
}

int Renderer::width() const {
  return impl_->cfg.width;
}
int Renderer::height() const {
  return impl_->cfg.height;
}
const GlInfo& Renderer::gl_info() const {
  return impl_->info;
}

}  // namespace relmimic::env
