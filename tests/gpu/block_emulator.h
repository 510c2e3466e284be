// Runs a CUDA-style block body on the CPU: one fiber (ucontext) per thread, all on the calling
// thread. A fiber runs until it reaches Block::sync(), then the next one runs; when every fiber
// of the block has arrived, all resume. Fibers resume in a different (seeded) order after each
// barrier, so code that reads shared memory another thread has not written behind a barrier
// gives wrong results here. Barriers reached by only part of the block (undefined on a GPU) are
// reported. Used to test kernel bodies written for both (kernels/igemm_tile.h) without a GPU.
#pragma once

#include <ucontext.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace relmimic::testing {

class BlockEmulator {
 public:
  struct Block {
    int tid, bx, by, bz;
    BlockEmulator* em;
    void sync() const { em->arrive(tid); }
  };
  using Body = std::function<void(const Block&)>;

  explicit BlockEmulator(int threads, size_t stack_bytes = 128 << 10)
      : threads_(threads), fibers_(size_t(threads)) {
    for (auto& f : fibers_) f.stack.resize(stack_bytes);
  }

  // body(block) for every block of the grid, blocks one after another; `before_block` runs
  // before each (e.g. to poison shared memory).
  void run(int gx, int gy, int gz, const Body& body,
           const std::function<void()>& before_block = {}) {
    for (int z = 0; z < gz; ++z)
      for (int y = 0; y < gy; ++y)
        for (int x = 0; x < gx; ++x) {
          if (before_block) before_block();
          run_block(x, y, z, body);
        }
  }

  long barriers() const { return barriers_; }

 private:
  enum class State { Ready, AtBarrier, Done };
  struct Fiber {
    ucontext_t ctx;
    std::vector<char> stack;
    State state = State::Ready;
  };

  static void entry(uint32_t hi, uint32_t lo) {
    auto* em = reinterpret_cast<BlockEmulator*>((uintptr_t(hi) << 32) | uintptr_t(lo));
    const int t = em->current_;
    em->body_(Block{t, em->bx_, em->by_, em->bz_, em});
    em->fibers_[size_t(t)].state = State::Done;
    // Returning resumes uc_link (the scheduler).
  }

  void arrive(int tid) {
    Fiber& f = fibers_[size_t(tid)];
    f.state = State::AtBarrier;
    swapcontext(&f.ctx, &main_);
  }

  void run_block(int x, int y, int z, const Body& body) {
    body_ = body;
    bx_ = x, by_ = y, bz_ = z;
    const auto self = uintptr_t(this);
    for (int t = 0; t < threads_; ++t) {
      Fiber& f = fibers_[size_t(t)];
      f.state = State::Ready;
      getcontext(&f.ctx);
      f.ctx.uc_stack.ss_sp = f.stack.data();
      f.ctx.uc_stack.ss_size = f.stack.size();
      f.ctx.uc_link = &main_;
      makecontext(&f.ctx, reinterpret_cast<void (*)()>(&BlockEmulator::entry), 2,
                  uint32_t(self >> 32), uint32_t(self & 0xffffffffu));
    }
    std::vector<int> order(static_cast<size_t>(threads_));
    std::iota(order.begin(), order.end(), 0);
    for (;;) {
      for (int t : order) {
        if (fibers_[size_t(t)].state == State::Done) continue;
        fibers_[size_t(t)].state = State::Ready;
        current_ = t;
        swapcontext(&main_, &fibers_[size_t(t)].ctx);
      }
      const long waiting = std::count_if(fibers_.begin(), fibers_.end(), [](const Fiber& f) {
        return f.state == State::AtBarrier;
      });
      if (waiting == 0) return;  // every thread finished
      if (waiting != threads_)
        throw std::runtime_error("block (" + std::to_string(x) + "," + std::to_string(y) + "," +
                                 std::to_string(z) + "): " + std::to_string(waiting) + " of " +
                                 std::to_string(threads_) +
                                 " threads wait at a barrier the others never reach");
      ++barriers_;
      std::shuffle(order.begin(), order.end(), rng_);
    }
  }

  int threads_;
  std::vector<Fiber> fibers_;
  ucontext_t main_{};
  Body body_;
  int bx_ = 0, by_ = 0, bz_ = 0, current_ = 0;
  long barriers_ = 0;
  std::mt19937 rng_{12345};
};

}  // namespace relmimic::testing
