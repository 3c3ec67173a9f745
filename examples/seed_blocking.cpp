// The seed's handle(id) with real blocking calls: two SQLite queries run concurrently in worker
// threads (run_in_thread) while the kernel keeps serving other tasks (a ticker shows it).
#include <sqlite3.h>

#include <cstdio>
#include <stdexcept>
#include <string>

#include "curio/curio.hpp"

using namespace std::chrono_literals;
using curio::Task;

namespace {

const char* kDatabase = "/tmp/curio-seed-example.db";

// Plain blocking code, as a database driver is: it knows nothing about curio.
std::string query_one(const std::string& sql) {
  sqlite3* db = nullptr;
  if (sqlite3_open(kDatabase, &db) != SQLITE_OK) throw std::runtime_error("cannot open the database");
  sqlite3_busy_timeout(db, 1000);
  sqlite3_stmt* stmt = nullptr;
  std::string out;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW)
    out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  if (out.empty()) throw std::runtime_error("no row for: " + sql);
  return out;
}

void create_database() {
  sqlite3* db = nullptr;
  sqlite3_open(kDatabase, &db);
  sqlite3_exec(db,
               "DROP TABLE IF EXISTS subject; DROP TABLE IF EXISTS buyinfo;"
               "CREATE TABLE subject(id INTEGER PRIMARY KEY, name TEXT);"
               "CREATE TABLE buyinfo(id INTEGER PRIMARY KEY, price TEXT);"
               "INSERT INTO subject VALUES (7, 'curio-cpp t-shirt');"
               "INSERT INTO buyinfo VALUES (7, '19.90');"
               // A big enough table that the query takes a moment.
               "CREATE TABLE noise(x INTEGER);"
               "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 300000) "
               "INSERT INTO noise SELECT x FROM n;",
               nullptr, nullptr, nullptr);
  sqlite3_close(db);
}

Task<std::string> get_subject_from_db(int id) {
  co_return co_await curio::run_in_thread(
      query_one, "SELECT s.name FROM subject s, (SELECT count(*) FROM noise) WHERE s.id = " + std::to_string(id));
}
Task<std::string> get_buyinfo(int id) {
  co_return co_await curio::run_in_thread(
      query_one, "SELECT b.price FROM buyinfo b, (SELECT sum(x) FROM noise) WHERE b.id = " + std::to_string(id));
}

Task<> handle(int id) {
  curio::TaskGroup g;
  curio::TaskHandle<std::string> subject, buyinfo;
  co_await g.scope([&]() -> Task<> {
    subject = g.spawn(get_subject_from_db(id));
    buyinfo = g.spawn(get_buyinfo(id));
    co_return;
  });
  std::printf("handle(%d): %s costs %s\n", id, subject.result().c_str(), buyinfo.result().c_str());
}

Task<> main_task() {
  int ticks = 0;
  auto ticker = curio::spawn([&]() -> Task<> {
    for (;;) {
      co_await curio::sleep(1ms);
      ++ticks;
    }
  });
  auto t0 = curio::clock();
  co_await handle(7);
  double ms = std::chrono::duration<double, std::milli>(curio::clock() - t0).count();
  co_await ticker.cancel();
  std::printf("took %.1f ms; meanwhile the kernel ran another task %d times (it never blocked)\n", ms, ticks);
}

}  // namespace

int main() {
  create_database();
  curio::run(main_task());
  std::remove(kDatabase);
}
