// The tests of task_group_test.cpp on a group that keeps no member list
// (TaskGroup(detail::NoMemberList{}): run_server's clients, issue 13), then what only such a
// group has to get right: its members carry no links, and it finds its running members among
// all of its kernel's tasks without touching the others.
#define CURIO_TEST_NO_MEMBER_LIST 1
#if defined(__GNUC__) && !defined(__clang__)
// GCC warns when a type local to the included file's tests (their lambdas) is used by a template
// instantiated from an included file: harmless here, every such type is used in this file only.
#pragma GCC diagnostic ignored "-Wsubobject-linkage"
#endif
#include "task_group_test.cpp"

TEST(TaskGroupNoMemberList, MembersCarryNoLinksAndNoSideRecord) {
  auto main = []() -> Task<> {
    curio::TaskGroup g(curio::detail::NoMemberList{});
    auto h = g.spawn(after(10s, 1));
    co_await curio::sleep(0);
    EXPECT_EQ(h.state_ptr()->group, &g);
    EXPECT_FALSE(h.state_ptr()->group_linked);
    EXPECT_EQ(h.state_ptr()->extras, nullptr);
    co_await g.cancel_remaining();
    EXPECT_EQ(h.state_ptr()->group, nullptr);
  };
  curio::run(main());
}

TEST(TaskGroupNoMemberList, CancelsItsOwnRunningMembersAndNoOtherTask) {
  auto main = []() -> Task<> {
    curio::TaskGroup g(curio::detail::NoMemberList{}), other(curio::detail::NoMemberList{});
    curio::TaskGroup listed;
    std::vector<curio::TaskHandle<int>> members, outsiders;
    for (int i = 0; i < 5; ++i) {
      outsiders.push_back(curio::spawn(after(10s, i)));
      members.push_back(g.spawn(after(10s, i)));
      outsiders.push_back(other.spawn(after(10s, i)));
      outsiders.push_back(listed.spawn(after(10s, i)));
    }
    g.spawn(after(1ms, 7));  // finished, not yet consumed, when the rest is cancelled
    co_await curio::sleep(20ms);
    co_await g.cancel_remaining();
    for (auto& m : members) EXPECT_TRUE(m.cancelled());
    for (auto& o : outsiders) EXPECT_FALSE(o.terminated());
    EXPECT_EQ(g.tasks().size(), 1u);  // the finished member stays until consumed
    co_await g.join();                // consumes it without removing it
    EXPECT_EQ(g.results<int>(), std::vector<int>{7});
    co_await other.cancel_remaining();
    co_await listed.cancel_remaining();
    for (auto& o : outsiders)
      if (!o.terminated()) co_await o.cancel();
    co_await other.join();
    co_await listed.join();
  };
  curio::run(main());
}

TEST(TaskGroupNoMemberList, OutlivesItsKernelOnceNoMemberRuns) {
  curio::TaskGroup joined(curio::detail::NoMemberList{}), unconsumed(curio::detail::NoMemberList{});
  curio::run([&]() -> Task<> {
    joined.spawn(after(1ms, 1));
    unconsumed.spawn(after(1ms, 2));
    co_await joined.join();
    co_await curio::sleep(5ms);
  }());
  // Both are destroyed after run()'s kernel: with no running member they do not look at its
  // list of live tasks (ASan: no use after free).
  EXPECT_EQ(joined.results<int>(), std::vector<int>{1});
}
