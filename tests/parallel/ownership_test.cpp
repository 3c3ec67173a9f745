// A task, a socket or a sync primitive belongs to the kernel that made it: waiting on it, joining
// or cancelling it from another kernel is a RuntimeError naming it, not a data race.
// Timing tolerances: none (events are ordered with UniversalEvent, sleeps only let a wait start).
#include <gtest/gtest.h>

#include <atomic>
#include <string>

#include "core/test_support.hpp"

using namespace curio_test;
using curio::Task;

namespace {

// Runs owner() on kernel 0 and intruder() on kernel 1; `ready` tells kernel 1 that kernel 0 has
// made its object, `done` tells kernel 0 that kernel 1 has tried.
struct TwoKernels {
  curio::UniversalEvent ready, done;
  template <class Owner, class Intruder>
  void run(Owner owner, Intruder intruder) {
    curio::run_parallel(2, [&](std::size_t k) -> Task<> {
      if (k == 0)
        co_await owner();
      else
        co_await intruder();
    });
  }
};

std::string message_of(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  }
  return {};
}

}  // namespace

TEST(ParallelOwnership, WaitingOnASocketOfAnotherKernelIsARuntimeError) {
  TwoKernels t;
  curio::Socket* shared = nullptr;
  std::exception_ptr error;
  t.run(
      [&]() -> Task<> {
        auto [a, b] = curio::Socket::pair();
        shared = &a;
        // A socket joins the poller of the kernel that first waits on it: a reader here.
        curio::Socket* pa = &a;
        auto reader = curio::spawn([pa]() -> Task<> { co_await pa->recv(10); });
        co_await curio::sleep(1ms);
        t.ready.set();
        co_await t.done.wait();
        co_await reader.cancel();
      },
      [&]() -> Task<> {
        co_await t.ready.wait();
        try {
          co_await shared->recv(10);  // nothing to read: it would wait in kernel 0's poller
        } catch (const curio::RuntimeError&) {
          error = std::current_exception();
        }
        t.done.set();
      });
  ASSERT_TRUE(error);
  EXPECT_NE(message_of(error).find("belongs to another kernel"), std::string::npos) << message_of(error);
  EXPECT_NE(message_of(error).find("fd "), std::string::npos) << message_of(error);
}

TEST(ParallelOwnership, JoiningOrCancellingATaskOfAnotherKernelIsARuntimeError) {
  TwoKernels t;
  curio::TaskHandle<int>* shared = nullptr;
  std::exception_ptr join_error, cancel_error;
  t.run(
      [&]() -> Task<> {
        auto h = curio::spawn(after(60s, 1), {.name = "sleeper"});
        shared = &h;
        t.ready.set();
        co_await t.done.wait();
        co_await h.cancel();
      },
      [&]() -> Task<> {
        co_await t.ready.wait();
        try {
          co_await shared->join();
        } catch (const curio::RuntimeError&) {
          join_error = std::current_exception();
        }
        try {
          co_await shared->cancel();
        } catch (const curio::RuntimeError&) {
          cancel_error = std::current_exception();
        }
        t.done.set();
      });
  ASSERT_TRUE(join_error);
  ASSERT_TRUE(cancel_error);
  EXPECT_NE(message_of(join_error).find(" belongs to another kernel"), std::string::npos) << message_of(join_error);
  EXPECT_NE(message_of(cancel_error).find(" belongs to another kernel"), std::string::npos) << message_of(cancel_error);
}

TEST(ParallelOwnership, JoiningATaskOfAnotherKernelThatHasEndedIsARuntimeErrorToo) {
  // The kernel is checked before the task's flags are read (they belong to its kernel's thread).
  TwoKernels t;
  curio::TaskHandle<int>* shared = nullptr;
  std::exception_ptr join_error;
  t.run(
      [&]() -> Task<> {
        auto h = curio::spawn(after(0ms, 1), {.name = "ended"});
        co_await h.wait();
        shared = &h;
        t.ready.set();
        co_await t.done.wait();
        EXPECT_EQ(co_await h.join(), 1);
      },
      [&]() -> Task<> {
        co_await t.ready.wait();
        try {
          co_await shared->join();
        } catch (const curio::RuntimeError&) {
          join_error = std::current_exception();
        }
        t.done.set();
      });
  ASSERT_TRUE(join_error);
  EXPECT_NE(message_of(join_error).find(" belongs to another kernel"), std::string::npos) << message_of(join_error);
}

TEST(ParallelOwnership, AForeignJoinDoesNotReadTheFlagsItsKernelWrites) {
  // Under TSan: kernel 0 sets the task's `cancelled` bit with nothing ordering it against
  // kernel 1's join; the join must not read `terminated`, a bit of the same byte.
  TwoKernels t;
  curio::TaskHandle<int>* shared = nullptr;
  std::exception_ptr join_error;
  t.run(
      [&]() -> Task<> {
        auto h = curio::spawn(after(60s, 1), {.name = "sleeper"});
        shared = &h;
        t.ready.set();
        co_await h.cancel();
        co_await t.done.wait();
      },
      [&]() -> Task<> {
        co_await t.ready.wait();
        try {
          co_await shared->join();
        } catch (const curio::RuntimeError&) {
          join_error = std::current_exception();
        }
        t.done.set();
      });
  ASSERT_TRUE(join_error);
}

TEST(ParallelOwnership, WaitingOnAnEventWhoseWaitersBelongToAnotherKernelIsARuntimeError) {
  TwoKernels t;
  curio::Event* shared = nullptr;
  std::exception_ptr error;
  t.run(
      [&]() -> Task<> {
        curio::Event ev;
        shared = &ev;
        auto waiter = curio::spawn([&]() -> Task<> { co_await ev.wait(); });
        co_await curio::sleep(1ms);  // the waiter is in ev's wait list now
        t.ready.set();
        co_await t.done.wait();
        ev.set();
        co_await waiter.join();
      },
      [&]() -> Task<> {
        co_await t.ready.wait();
        try {
          co_await shared->wait();
        } catch (const curio::RuntimeError&) {
          error = std::current_exception();
        }
        t.done.set();
      });
  ASSERT_TRUE(error);
  EXPECT_NE(message_of(error).find("EVENT_WAIT"), std::string::npos) << message_of(error);
  EXPECT_NE(message_of(error).find("another kernel"), std::string::npos) << message_of(error);
}

TEST(ParallelOwnership, TheSameOperationsOnTheirOwnKernelStillWork) {
  curio::run_parallel(2, [](std::size_t) -> Task<> {
    auto [a, b] = curio::Socket::pair();
    co_await a.sendall("x");
    EXPECT_EQ(co_await b.recv(10), "x");
    auto h = curio::spawn(after(1ms, 7));
    EXPECT_EQ(co_await h.join(), 7);
    curio::Event ev;
    auto w = curio::spawn([&]() -> Task<> { co_await ev.wait(); });
    co_await curio::sleep(1ms);
    ev.set();
    co_await w.join();
  });
}
