// A model's own native thread. Every asynchronous operation of one model runs its native work
// on the same persistent thread, so the CPU backend keeps one OpenMP thread team per model
// instead of one per libuv pool thread (hopping between teams cost ~7% of training throughput).
// The AsyncWorker still runs on the libuv pool: its Execute() hands the job to the executor and
// blocks until the job is done, so promises, busy flags and error records are unchanged.
//   Executor       owned by the ModelObject (main thread): starts the thread; its destructor
//                  stops and joins it (only call it when no operation is in flight).
//   ExecutorQueue  the one-job slot shared by the owner, the thread and the in-flight worker;
//                  it outlives a detached Executor for as long as either still uses it.
#pragma once
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

namespace autoscale::addon {

class ExecutorQueue {
 public:
  // Runs job on the executor thread and waits for it to finish (any thread but the executor's).
  // One caller at a time (the model's busy flag guarantees it). If the thread has already
  // stopped (the executor was detached at environment teardown), runs job on the caller's thread.
  // Exceptions thrown by job are swallowed: jobs catch and record their own failures.
  void run(const std::function<void()>& job);

 private:
  friend class Executor;
  void serve();  // the thread's loop
  void stop();   // asks the thread to finish once no job is pending

  std::mutex mutex_;
  std::condition_variable wake_;  // the thread waits here for a job or stop
  std::condition_variable done_;  // run() waits here for its job to finish
  const std::function<void()>* job_ = nullptr;
  bool finished_ = false;  // the current job has run
  bool stopping_ = false;
  bool exited_ = false;    // the thread has left serve() and takes no more jobs
};

class Executor {
 public:
  Executor();  // starts the thread; throws NativeError(Resources) if the OS refuses it
  ~Executor();  // stops and joins the thread unless detach() was called
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  const std::shared_ptr<ExecutorQueue>& queue() const { return queue_; }
  // Environment teardown with an operation in flight: never join (the job may be running).
  // The thread finishes any pending job, then exits on its own.
  void detach();

 private:
  std::shared_ptr<ExecutorQueue> queue_;
  std::thread thread_;
};

}  // namespace autoscale::addon
