// TaskGroup: wait modes, errors, daemons, consuming tasks one at a time, and the scope rule
// (no child outlives the group's scope, whatever happens in the body).
// task_group_no_list_test.cpp runs every test again on a group that keeps no member list
// (run_server's clients, suite TaskGroupNoMemberList): it must behave the same way.
#include <gtest/gtest.h>

#include "test_support.hpp"

using namespace curio_test;
using curio::GroupWait;
using curio::Task;
using testing::internal::CaptureStderr;
using testing::internal::GetCapturedStderr;

#ifdef CURIO_TEST_NO_MEMBER_LIST
#define CURIO_TEST_GROUP_SUITE TaskGroupNoMemberList
#else
#define CURIO_TEST_GROUP_SUITE TaskGroup
#endif

namespace {
curio::TaskGroup make_group(GroupWait wait = GroupWait::All) {
#ifdef CURIO_TEST_NO_MEMBER_LIST
  return curio::TaskGroup(curio::detail::NoMemberList{}, wait);
#else
  return curio::TaskGroup(wait);
#endif
}

Task<std::optional<int>> maybe(std::chrono::milliseconds d, std::optional<int> v) {
  co_await curio::sleep(d);
  co_return v;
}
}  // namespace

TEST(CURIO_TEST_GROUP_SUITE, ScopeJoinsEveryChildAndResultsAreInSpawnOrder) {
  auto main = []() -> Task<std::vector<int>> {
    curio::TaskGroup g = make_group();
    co_await g.scope([&]() -> Task<> {
      g.spawn(after(30ms, 1));
      g.spawn(after(10ms, 2));
      g.spawn(after(20ms, 3));
      co_return;
    });
    EXPECT_TRUE(g.joined());
    co_return g.results<int>();
  };
  EXPECT_EQ(curio::run(main()), (std::vector<int>{1, 2, 3}));
}

TEST(CURIO_TEST_GROUP_SUITE, BodyMayTakeTheGroupAsArgument) {
  auto main = []() -> Task<int> {
    curio::TaskGroup g = make_group();
    co_await g.scope([](curio::TaskGroup& group) -> Task<> {
      group.spawn(after(1ms, 5));
      co_return;
    });
    co_return g.results<int>().at(0);
  };
  EXPECT_EQ(curio::run(main()), 5);
}

TEST(CURIO_TEST_GROUP_SUITE, WaitAllStopsAtTheFirstErrorAndCancelsTheRest) {
  CaptureStderr();
  auto main = []() -> Task<> {
    curio::TaskGroup g = make_group();
    curio::TaskHandle<int> slow;
    co_await g.scope([&]() -> Task<> {
      slow = g.spawn(after(10s, 1));
      g.spawn(fail_after(5ms));
      co_return;
    });
    EXPECT_TRUE(slow.cancelled());
    EXPECT_TRUE(slow.terminated());
    EXPECT_THROW(g.result<int>(), Boom);  // completed is the task that raised
    EXPECT_NE(g.exception(), nullptr);
    // results() raises the first error in id order: here the cancelled sibling's.
    EXPECT_THROW(g.results<int>(), curio::TaskCancelled);
    auto errors = g.exceptions();
    EXPECT_EQ(errors.size(), 2u);
    if (errors.size() != 2u) co_return;
    EXPECT_TRUE(curio::is_cancellation(errors[0]));
    EXPECT_FALSE(curio::is_cancellation(errors[1]));
  };
  curio::run(main());
  GetCapturedStderr();
}

TEST(CURIO_TEST_GROUP_SUITE, JoinNeverRaisesAChildsError) {
  CaptureStderr();
  auto main = []() -> Task<bool> {
    curio::TaskGroup g = make_group();
    g.spawn(fail_after(1ms));
    co_await g.join();
    co_return g.exception() != nullptr;
  };
  EXPECT_TRUE(curio::run(main()));
  GetCapturedStderr();
}

TEST(CURIO_TEST_GROUP_SUITE, WaitAllCountsAChildCancelledOnItsOwnAsRaising) {
  auto main = []() -> Task<bool> {
    curio::TaskGroup g = make_group();
    curio::TaskHandle<int> slow;
    co_await g.scope([&]() -> Task<> {
      slow = g.spawn(after(10s, 1));
      auto victim = g.spawn(sleep_for(10s));
      co_await curio::sleep(1ms);
      co_await victim.cancel(false);
    });
    co_return slow.cancelled() && curio::is_cancellation(g.exception());
  };
  EXPECT_TRUE(curio::run(main()));
}

TEST(CURIO_TEST_GROUP_SUITE, WaitAnyEndsAtTheFirstTaskToFinish) {
  auto main = []() -> Task<int> {
    curio::TaskGroup g = make_group(GroupWait::Any);
    co_await g.scope([&]() -> Task<> {
      g.spawn(after(10s, 1));
      g.spawn(after(5ms, 2));
      g.spawn(after(10s, 3));
      co_return;
    });
    co_return g.result<int>();
  };
  EXPECT_EQ(curio::run(main()), 2);
}

TEST(CURIO_TEST_GROUP_SUITE, WaitObjectEndsAtTheFirstNonNoneResult) {
  auto main = []() -> Task<std::optional<int>> {
    curio::TaskGroup g = make_group(GroupWait::Object);
    co_await g.scope([&]() -> Task<> {
      g.spawn(maybe(1ms, std::nullopt));
      g.spawn(maybe(10ms, 42));
      g.spawn(maybe(10s, 7));
      co_return;
    });
    co_return g.result<std::optional<int>>();
  };
  EXPECT_EQ(curio::run(main()), 42);
}

TEST(CURIO_TEST_GROUP_SUITE, WaitObjectWithOnlyNoneResultsHasNoResult) {
  auto main = []() -> Task<> {
    curio::TaskGroup g = make_group(GroupWait::Object);
    co_await g.scope([&]() -> Task<> {
      g.spawn(maybe(1ms, std::nullopt));
      g.spawn(maybe(2ms, std::nullopt));
      co_return;
    });
    EXPECT_FALSE(g.completed().has_value());
    EXPECT_THROW(g.result<std::optional<int>>(), curio::RuntimeError);
  };
  curio::run(main());
}

TEST(CURIO_TEST_GROUP_SUITE, WaitNoneCancelsEverythingAtOnce) {
  auto main = []() -> Task<bool> {
    curio::TaskGroup g = make_group(GroupWait::None);
    curio::TaskHandle<int> h;
    co_await g.scope([&]() -> Task<> {
      h = g.spawn(after(10s, 1));
      co_return;
    });
    co_return h.cancelled();
  };
  EXPECT_TRUE(curio::run(main()));
}

TEST(CURIO_TEST_GROUP_SUITE, EmptyGroupHasNoResult) {
  auto main = []() -> Task<> {
    curio::TaskGroup g = make_group();
    co_await g.join();
    EXPECT_THROW(g.result<int>(), curio::RuntimeError);
    EXPECT_TRUE(g.exceptions().empty());
  };
  curio::run(main());
}

TEST(CURIO_TEST_GROUP_SUITE, ResultsBeforeJoinAreAnError) {
  auto main = []() -> Task<> {
    curio::TaskGroup g = make_group();
    g.spawn(after(1ms, 1));
    EXPECT_THROW(g.results<int>(), curio::RuntimeError);
    EXPECT_THROW(g.result<int>(), curio::RuntimeError);
    EXPECT_THROW(g.exception(), curio::RuntimeError);
    EXPECT_THROW(g.exceptions(), curio::RuntimeError);
    co_await g.join();
  };
  curio::run(main());
}

TEST(CURIO_TEST_GROUP_SUITE, BodyErrorCancelsAndJoinsChildrenBeforeItPropagates) {
  auto main = []() -> Task<std::vector<std::string>> {
    std::vector<std::string> log;
    curio::TaskGroup g = make_group();
    try {
      co_await g.scope([&]() -> Task<> {
        g.spawn([&]() -> Task<> {
          try {
            co_await curio::sleep(10s);
          } catch (const curio::TaskCancelled&) {
            log.push_back("child cancelled");
            throw;
          }
        });
        co_await curio::sleep(1ms);
        throw Boom();
      });
    } catch (const Boom&) {
      log.push_back("body error propagated");
    }
    co_return log;
  };
  EXPECT_EQ(curio::run(main()), (std::vector<std::string>{"child cancelled", "body error propagated"}));
}

TEST(CURIO_TEST_GROUP_SUITE, OwnerCancelledInsideTheScopeCancelsTheChildrenFirst) {
  auto main = []() -> Task<std::vector<std::string>> {
    std::vector<std::string> log;
    auto owner = curio::spawn([&]() -> Task<> {
      curio::TaskGroup g = make_group();
      try {
        co_await g.scope([&]() -> Task<> {
          g.spawn([&]() -> Task<> {
            try {
              co_await curio::sleep(10s);
            } catch (const curio::TaskCancelled&) {
              log.push_back("child cancelled");
              throw;
            }
          });
          co_return;
        });
      } catch (const curio::TaskCancelled&) {
        log.push_back("owner cancelled");
        throw;
      }
    });
    co_await curio::sleep(5ms);
    co_await owner.cancel();
    co_return log;
  };
  EXPECT_EQ(curio::run(main()), (std::vector<std::string>{"child cancelled", "owner cancelled"}));
}

TEST(CURIO_TEST_GROUP_SUITE, OwnerTimeoutCancelsTheChildren) {
  auto main = []() -> Task<bool> {
    curio::TaskGroup g = make_group();
    curio::TaskHandle<int> child;
    try {
      co_await curio::timeout_after(10ms, g.scope([&]() -> Task<> {
        child = g.spawn(after(10s, 1));
        co_return;
      }));
    } catch (const curio::TaskTimeout&) {
      co_return child.terminated() && child.cancelled();
    }
    co_return false;
  };
  EXPECT_TRUE(curio::run(main()));
}

TEST(CURIO_TEST_GROUP_SUITE, DaemonsAreCancelledAtJoinAndLeftOutOfResults) {
  auto main = []() -> Task<> {
    curio::TaskGroup g = make_group();
    curio::TaskHandle<int> daemon;
    co_await g.scope([&]() -> Task<> {
      daemon = g.spawn(after(10s, 99), {.daemon = true});
      g.spawn(after(1ms, 1));
      co_return;
    });
    EXPECT_TRUE(daemon.cancelled());
    EXPECT_TRUE(daemon.terminated());
    EXPECT_EQ(g.results<int>(), std::vector<int>{1});
  };
  curio::run(main());
}

TEST(CURIO_TEST_GROUP_SUITE, NextDoneReturnsTasksInCompletionOrderThenNothing) {
  auto main = []() -> Task<std::vector<int>> {
    curio::TaskGroup g = make_group();
    g.spawn(after(30ms, 3));
    g.spawn(after(10ms, 1));
    g.spawn(after(20ms, 2));
    std::vector<int> order;
    while (auto t = co_await g.next_done()) order.push_back(t->result_as<int>());
    EXPECT_FALSE((co_await g.next_done()).has_value());
    co_await g.join();
    EXPECT_TRUE(g.results<int>().empty());  // consumed tasks left the group
    co_return order;
  };
  EXPECT_EQ(curio::run(main()), (std::vector<int>{1, 2, 3}));
}

TEST(CURIO_TEST_GROUP_SUITE, NextResultReturnsValuesAndReRaisesErrorsUnwrapped) {
  CaptureStderr();
  auto main = []() -> Task<> {
    curio::TaskGroup g = make_group();
    g.spawn(after(1ms, 7));
    g.spawn(fail_after(10ms));
    EXPECT_EQ(co_await g.next_result<int>(), 7);
    bool raised = false;
    try {
      co_await g.next_result<int>();
    } catch (const Boom&) {
      raised = true;
    }
    EXPECT_TRUE(raised);
    co_await g.join();
  };
  curio::run(main());
  GetCapturedStderr();
}

TEST(CURIO_TEST_GROUP_SUITE, NextResultOnAnEmptyGroupIsAnError) {
  auto main = []() -> Task<bool> {
    curio::TaskGroup g = make_group();
    try {
      co_await g.next_result<int>();
    } catch (const curio::RuntimeError&) {
      co_return true;
    }
    co_return false;
  };
  EXPECT_TRUE(curio::run(main()));
}

TEST(CURIO_TEST_GROUP_SUITE, CancelRemainingCancelsAndRemovesRunningTasks) {
  auto main = []() -> Task<> {
    curio::TaskGroup g = make_group();
    auto a = g.spawn(after(10s, 1));
    auto b = g.spawn(after(10s, 2));
    co_await curio::sleep(1ms);
    co_await g.cancel_remaining();
    EXPECT_TRUE(a.cancelled() && b.cancelled());
    EXPECT_TRUE(g.tasks().empty());
    co_await g.join();
  };
  curio::run(main());
}

TEST(CURIO_TEST_GROUP_SUITE, AddTaskAcceptsAFinishedTask) {
  auto main = []() -> Task<int> {
    auto h = curio::spawn(after(1ms, 4));
    co_await h.wait();
    curio::TaskGroup g = make_group();
    g.add_task(h);
    co_await g.join();
    co_return g.results<int>().at(0);
  };
  EXPECT_EQ(curio::run(main()), 4);
}

TEST(CURIO_TEST_GROUP_SUITE, AddingATaskOfAnotherGroupIsAnError) {
  auto main = []() -> Task<> {
    curio::TaskGroup g1 = make_group(), g2 = make_group();
    auto h = g1.spawn(after(1ms, 1));
    EXPECT_THROW(g2.add_task(h), curio::RuntimeError);
    co_await g1.join();
    co_await g2.join();
  };
  curio::run(main());
}

TEST(CURIO_TEST_GROUP_SUITE, SpawnAfterJoinIsAnError) {
  auto main = []() -> Task<> {
    curio::TaskGroup g = make_group();
    co_await g.join();
    EXPECT_THROW(g.spawn(after(1ms, 1)), curio::RuntimeError);
  };
  curio::run(main());
}

TEST(CURIO_TEST_GROUP_SUITE, JoiningAMemberRemovesItFromTheGroup) {
  auto main = []() -> Task<> {
    curio::TaskGroup g = make_group();
    auto a = g.spawn(after(1ms, 1));
    g.spawn(after(2ms, 2));
    EXPECT_EQ(co_await a.join(), 1);
    co_await g.join();
    EXPECT_EQ(g.results<int>(), std::vector<int>{2});
  };
  curio::run(main());
}

TEST(CURIO_TEST_GROUP_SUITE, DestroyedWithRunningTasksCancelsThemAndReportsTheMisuse) {
  CaptureStderr();
  auto main = []() -> Task<bool> {
    curio::TaskHandle<int> h;
    {
      curio::TaskGroup g = make_group();
      h = g.spawn(after(10s, 1));
    }
    co_await h.wait();
    co_return h.cancelled();
  };
  EXPECT_TRUE(curio::run(main()));
  EXPECT_NE(GetCapturedStderr().find("TaskGroup destroyed with 1 running task"), std::string::npos);
}

TEST(CURIO_TEST_GROUP_SUITE, GroupMembersAreNotReportedAsNeverJoined) {
  CaptureStderr();
  auto main = []() -> Task<> {
    curio::TaskGroup g = make_group();
    co_await g.scope([&]() -> Task<> {
      g.spawn(after(1ms, 1));
      co_return;
    });
  };
  curio::run(main());
  EXPECT_EQ(GetCapturedStderr(), "");
}
