// EnvPool's per-env and per-thread state, shared by env/pool.cpp (host frames) and
// env/pool_device.cpp (device frames). Not part of the public interface.
#pragma once

#include <exception>
#include <memory>
#include <thread>
#include <vector>

#include "engine/rng.h"
#include "env/frames_cuda.h"
#include "env/locomotion.h"
#include "env/pool.h"
#include "env/renderer.h"

namespace relmimic::env {

struct EnvPool::Slot {
  std::unique_ptr<LocomotionEnv> env;
  Rng rng;
  std::vector<uint8_t> stack, final_stack;     // [k, H*W] oldest first (host frames)
  std::vector<uint8_t> frame;                  // [H*W] the newest render
  std::vector<double> action, obs_d;           // [A], [obs_dim] in the env's precision
  std::vector<float> obs, final_obs;           // [obs_dim]
  std::vector<double> final_qpos, final_qvel;  // [nq], [nv] of the finished episode's last state
  double ep_return = 0;
  int ep_length = 0;
};

struct EnvPool::Worker {
  int begin = 0, end = 0;  // env range [begin, end)
  std::unique_ptr<Renderer> renderer;
  std::unique_ptr<CudaFrameWriter> frames;  // FrameMode::Cuda: slot j is env begin + j
  std::thread thread;
  std::exception_ptr error;
};

}  // namespace relmimic::env
