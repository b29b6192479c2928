// A model's own native thread: see executor.h.
#include "executor.h"

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
  thread_ = std::thread([queue] { queue->serve(); });
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
