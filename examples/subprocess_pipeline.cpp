// subprocess_pipeline: child processes with curio::subprocess.
//   1. `ls -l /usr/bin | wc -l` as two Popen children joined by a pipe, the result read
//      through a curio stream while other tasks keep running;
//   2. run() with capture_output and check;
//   3. run() with a timeout: the slow child is killed, and the output it wrote is kept.
#include <csignal>
#include <iostream>
#include <string>
#include <vector>

#include "curio/curio.hpp"
#include "curio/process/subprocess.hpp"

using namespace std::chrono_literals;
namespace sp = curio::subprocess;

curio::Task<> pipeline() {
  sp::Popen ls({"ls", "-l", "/usr/bin"}, {.stdout_mode = sp::PIPE});
  // ls's stdout becomes wc's stdin (and is closed in this process, as the pipe is wc's now).
  sp::Popen wc({"wc", "-l"}, {.stdin_mode = sp::Redirect::from_stream(*ls.stdout_stream()), .stdout_mode = sp::PIPE});
  std::string count = co_await wc.stdout_stream()->readline();
  if (!count.empty() && count.back() == '\n') count.pop_back();
  int ls_status = co_await ls.wait();
  int wc_status = co_await wc.wait();
  std::cout << "ls -l /usr/bin | wc -l: " << count << " (exit codes " << ls_status << ", " << wc_status << ")\n";
}

curio::Task<> captured() {
  // (The argument vectors are named: GCC 12 rejects a braced list inside a co_await
  // expression. With Clang, co_await sp::run({"uname", "-sr"}, ...) works as well.)
  std::vector<std::string> uname{"uname", "-sr"};
  sp::CompletedProcess r = co_await sp::run(uname, {.capture_output = true, .check = true});
  std::cout << "uname -sr: " << r.stdout_data;
  std::vector<std::string> sort{"sort"};
  std::string sorted = co_await sp::check_output(sort, {.input = "pear\napple\nfig\n"});
  std::cout << "sorted: " << sorted;
}

curio::Task<> with_timeout() {
  // exec: sleep replaces the shell, so the kill reaches it (run kills the child, not the
  // grandchildren a shell may have started).
  std::vector<std::string> slow{"sh", "-c", "echo working...; exec sleep 10"};
  try {
    co_await sp::run(slow, {.capture_output = true, .timeout = 500ms});
  } catch (const curio::TaskTimeout& e) {
    std::cout << "timed out after 0.5 s; the child was killed. It had written: "
              << e.partial_stdout.value_or("(nothing)");
  }
}

curio::Task<> main_task() {
  co_await pipeline();
  co_await captured();
  co_await with_timeout();
  std::vector<std::string> failing{"sh", "-c", "exit 3"};
  try {
    co_await sp::run(failing, {.check = true});
  } catch (const sp::CalledProcessError& e) {
    std::cout << "CalledProcessError: " << e.what() << '\n';
  }
}

int main() {
  try {
    curio::run(main_task());
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << '\n';
    return 1;
  }
}
