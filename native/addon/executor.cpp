// A model's own native thread: see executor.h.
#include "executor.h"

#include <system_error>

#include "cpu/threads.h"
#include "status.h"

namespace autoscale::addon {

void ExecutorQueue::run(const std::function<void()>& job) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (exited_) {
    lock.unlock();
    try {
      job();
    } catch (...) {
    }
    return;
  }
  job_ = &job;
  finished_ = false;
  wake_.notify_one();
  done_.wait(lock, [this] { return finished_; });
  job_ = nullptr;
}

void ExecutorQueue::serve() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return (job_ != nullptr && !finished_) || stopping_; });
    if (job_ != nullptr && !finished_) {
      const std::function<void()>* job = job_;
      lock.unlock();
      try {
        (*job)();
      } catch (...) {
        // Nothing may escape the thread (std::terminate); jobs record their own failures.
      }
      lock.lock();
      finished_ = true;
      done_.notify_one();
      continue;
    }
    exited_ = true;  // stopping with no job pending: later run() calls go inline
    return;
  }
}

void ExecutorQueue::stop() {
  std::lock_guard<std::mutex> lock(mutex_);
  stopping_ = true;
  wake_.notify_one();
}

Executor::Executor() : queue_(std::make_shared<ExecutorQueue>()) {
  std::shared_ptr<ExecutorQueue> queue = queue_;  // the thread keeps the queue alive
  try {
    thread_ = std::thread([queue] { queue->serve(); });
  } catch (const std::system_error& e) {
    // EAGAIN: a thread limit (the message names them); anything else is just as much the OS's.
    throw NativeError(ErrorCode::Resources,
                      thread_limit_message("starting the native thread of a model (each model runs its "
                                           "work on a thread of its own)",
                                           e.code().value()));
  }
}

Executor::~Executor() {
  if (!thread_.joinable()) return;
  queue_->stop();
  thread_.join();
}

void Executor::detach() {
  if (!thread_.joinable()) return;
  queue_->stop();
  thread_.detach();
}

}  // namespace autoscale::addon
