// Journals (issue #14): CRC32C, record -> file -> replay round trips, the
// fsync policies, O_DIRECT, rotation, pace and starting points, and the
// reader's verdict on flipped bytes and torn tails. The SIGKILL rounds are
// in test_journal_crash.
//
// RINGPORT_JOURNAL_MESSAGES sets the round trip's message count (default
// 100000 in make test; the long mode is 1000000).
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "journal_util.hpp"
#include "ringport/crc32c.hpp"
#include "ringport/journal.hpp"
#include "ringport/ring.hpp"

using namespace ringport;
using namespace journal_test;
using namespace std::chrono_literals;
namespace jr = ringport::journal;

namespace {

std::uint64_t round_trip_count() {
  const char* e = std::getenv("RINGPORT_JOURNAL_MESSAGES");
  return e ? std::strtoull(e, nullptr, 10) : 100000;
}

// Sends messages 0..n-1 of `seed` into box from a thread.
std::thread feed(mailbox& box, std::uint64_t seed, std::uint64_t n, std::size_t max) {
  auto tx = box.sender();
  REQUIRE(tx);
  return std::thread([tx = std::move(*tx), seed, n, max]() mutable {
    for (std::uint64_t i = 0; i < n; ++i) {
      const auto m = message(seed, i, max);
      if (tx.send(m) != status::ok) return;
    }
  });
}

// Records n messages from box into a new journal at path.
jr::record_outcome record_n(mailbox& box, const std::string& path, std::uint64_t n, jr::writer_options o) {
  auto rx = box.receiver();
  REQUIRE(rx);
  o.source_name = "src";
  auto w = jr::writer::create(path, o);
  REQUIRE_MESSAGE(w, w.error().message);
  jr::record_options ro;
  ro.count = n;
  auto out = jr::record(*rx, *w, ro);
  REQUIRE_MESSAGE(out, out.error().message);
  auto c = w->close();
  REQUIRE_MESSAGE(c, c.error().message);
  return *out;
}

// Feeds, records, and checks the journal record by record.
void record_and_check(const std::string& path, std::uint64_t n, std::size_t max, const jr::writer_options& o,
                      std::uint64_t seed) {
  mailbox box = make_mailbox("jr-" + std::to_string(seed), 256, max);
  std::thread t = feed(box, seed, n, max);
  const auto out = record_n(box, path, n, o);
  t.join();
  CHECK(out.messages == n);
  const contents c = read_all(path);
  REQUIRE_MESSAGE(c.open_error.empty(), c.open_error);
  CHECK_MESSAGE(c.end == jr::read_result::end, c.problem);
  REQUIRE(c.payloads.size() == n);
  std::uint64_t bad = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    if (c.payloads[i] != message(seed, i, max) || c.entries[i].sequence != i) ++bad;
    if (i > 0 && c.entries[i].monotonic_ns < c.entries[i - 1].monotonic_ns) ++bad;
  }
  CHECK(bad == 0);
}

void flip_byte(const std::string& path, std::uint64_t offset) {
  const int fd = ::open(path.c_str(), O_RDWR);
  REQUIRE(fd >= 0);
  unsigned char b = 0;
  REQUIRE(::pread(fd, &b, 1, static_cast<off_t>(offset)) == 1);
  b ^= 0x10;
  REQUIRE(::pwrite(fd, &b, 1, static_cast<off_t>(offset)) == 1);
  ::close(fd);
}

}  // namespace

TEST_CASE("crc32c: the check value, chaining, and the hardware path equals the table") {
  const char* check = "123456789";
  const auto b = std::as_bytes(std::span(check, 9));
  CHECK(crc32c(0, b) == 0xE3069283u);
  CHECK(crc32c_portable(0, b) == 0xE3069283u);
  CHECK(crc32c(crc32c(0, b.first(4)), b.subspan(4)) == 0xE3069283u);
  CHECK(crc32c(0, {}) == 0u);
  for (std::uint64_t i = 0; i < 200; ++i) {
    const auto m = message(7, i, 300);
    CHECK(crc32c(0, m) == crc32c_portable(0, m));
  }
}

TEST_CASE("journal: record and replay round trip, byte for byte and in order") {
  scratch_dir dir;
  const std::uint64_t n = round_trip_count();
  constexpr std::size_t max = 512;
  const std::string path = dir.file("rt.journal");
  record_and_check(path, n, max, {}, 1);

  // Replay into a fresh mailbox and compare what a receiver takes.
  mailbox box2 = make_mailbox("jr-replay", 256, max);
  auto rx = box2.receiver();
  REQUIRE(rx);
  auto tx = box2.sender();
  REQUIRE(tx);
  auto rd = jr::reader::open(path);
  REQUIRE(rd);
  CHECK(rd->info().source_name == "src");
  std::thread player([&] {
    auto out = jr::replay(*rd, *tx);
    CHECK(out);
    if (out) CHECK(out->messages == n);
    if (out) CHECK(out->end == jr::read_result::end);
  });
  std::vector<std::byte> buf(max);
  std::uint64_t bad = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    std::size_t len = 0;
    REQUIRE(rx->receive_for(buf, len, 60s) == status::ok);
    const auto want = message(1, i, max);
    if (len != want.size() || (len != 0 && std::memcmp(buf.data(), want.data(), len) != 0)) ++bad;
  }
  player.join();
  CHECK(bad == 0);
  std::size_t len = 0;
  CHECK(rx->try_receive(buf, len) == status::would_block);
}

TEST_CASE("journal: fsync policies, O_DIRECT and small buffers keep every record") {
  scratch_dir dir;
  jr::writer_options o;
  SUBCASE("fsync every batch") {
    o.fsync = jr::fsync_policy::every_batch;
  }
  SUBCASE("fsync every 1 ms") {
    o.fsync = jr::fsync_policy::interval;
    o.fsync_interval = 1ms;
  }
  SUBCASE("two 8 KiB buffers") {
    o.buffers = 2;
    o.buffer_bytes = 8192;
  }
  SUBCASE("O_DIRECT, 8 KiB buffers") {
    o.direct = true;
    o.buffer_bytes = 8192;
    // Probe: a file system without O_DIRECT (tmpfs) is a skip of this subcase only.
    const std::string probe = dir.file("probe");
    const int fd = ::open(probe.c_str(), O_CREAT | O_WRONLY | O_DIRECT, 0600);
    if (fd < 0) {
      MESSAGE("SKIP O_DIRECT subcase: " << dir.path << " refuses O_DIRECT: " << std::strerror(errno));
      return;
    }
    ::close(fd);
  }
  const std::string path = dir.file("p.journal");
  record_and_check(path, 3000, 1000, o, 2);
  // The file ends exactly at the end record (O_DIRECT's zero-filled block cut).
  const contents c = read_all(path);
  REQUIRE(!c.entries.empty());
  const auto& last = c.entries.back();
  CHECK(std::filesystem::file_size(path) == last.offset + jr::record_header_bytes +
                                                ((c.payloads.back().size() + 7) / 8 * 8) +
                                                jr::record_header_bytes + 8);
}

TEST_CASE("journal: rotation by size starts numbered parts that chain") {
  scratch_dir dir;
  jr::writer_options o;
  o.rotate_bytes = 64 * 1024;
  const std::string path = dir.file("rot.journal");
  record_and_check(path, 5000, 200, o, 3);
  std::uint32_t parts = 0;
  while (std::filesystem::exists(jr::part_path(path, parts))) {
    CHECK(std::filesystem::file_size(jr::part_path(path, parts)) <= o.rotate_bytes);
    ++parts;
  }
  CHECK(parts >= 5);  // ~ 5000 * 144 bytes / 64 KiB
  const contents c = read_all(path);
  CHECK(c.entries.back().part == parts - 1);
  // A missing middle part is reported where the chain breaks.
  std::filesystem::remove(jr::part_path(path, 2));
  const contents broken = read_all(path);
  CHECK(broken.end == jr::read_result::bad);
  CHECK(broken.bad_part == 1);
  CHECK(broken.problem.find("another part follows") != std::string::npos);
  REQUIRE(!broken.entries.empty());
  CHECK(broken.entries.back().part == 1);
  CHECK(broken.entries.back().sequence + 1 == c.entries[broken.entries.size()].sequence);
}

TEST_CASE("journal: replay honours the pace (never early, in order) and its starting points") {
  scratch_dir dir;
  const std::string path = dir.file("pace.journal");
  {
    auto w = jr::writer::create(path, {});
    REQUIRE(w);
    for (std::uint64_t i = 0; i < 20; ++i) {
      const auto m = message(4, i, 64);
      REQUIRE(w->append(m));
      w->flush();
      std::this_thread::sleep_for(2ms);  // recorded gaps of >= 2 ms
    }
    REQUIRE(w->close());
  }
  const contents c = read_all(path);
  REQUIRE(c.entries.size() == 20);

  // due_time: the recorded offsets divided by the pace.
  const auto t0 = std::chrono::steady_clock::time_point{} + 1s;
  CHECK(jr::due_time(t0, 1000, 1000, 2.0) == t0);
  CHECK(jr::due_time(t0, 1000, 5000, 2.0) == t0 + 2000ns);
  CHECK(jr::due_time(t0, 1000, 5000, 0.5) == t0 + 8000ns);
  CHECK(jr::due_time(t0, 1000, 5000, 0) == t0);

  mailbox box = make_mailbox("jr-pace", 64, 64);
  auto rx = box.receiver();
  auto tx = box.sender();
  REQUIRE(rx);
  REQUIRE(tx);
  SUBCASE("pace 4.0: each message arrives no earlier than its scaled offset") {
    auto rd = jr::reader::open(path);
    REQUIRE(rd);
    jr::replay_options ro;
    ro.pace = 4.0;
    const auto start = std::chrono::steady_clock::now();
    std::thread player([&] { CHECK(jr::replay(*rd, *tx, ro)); });
    std::vector<std::byte> buf(64);
    for (std::size_t i = 0; i < 20; ++i) {
      std::size_t len = 0;
      REQUIRE(rx->receive_for(buf, len, 10s) == status::ok);
      const auto arrived = std::chrono::steady_clock::now();
      CHECK(std::vector<std::byte>(buf.begin(), buf.begin() + static_cast<long>(len)) == c.payloads[i]);
      CHECK(arrived >= jr::due_time(start, c.entries[0].monotonic_ns, c.entries[i].monotonic_ns, 4.0));
    }
    player.join();
  }
  SUBCASE("from a sequence") {
    auto rd = jr::reader::open(path);
    REQUIRE(rd);
    jr::replay_options ro;
    ro.from_sequence = 15;
    auto out = jr::replay(*rd, *tx, ro);
    REQUIRE(out);
    CHECK(out->messages == 5);
    std::vector<std::byte> buf(64);
    std::size_t len = 0;
    REQUIRE(rx->try_receive(buf, len) == status::ok);
    CHECK(std::vector<std::byte>(buf.begin(), buf.begin() + static_cast<long>(len)) == c.payloads[15]);
  }
  SUBCASE("from a time") {
    auto rd = jr::reader::open(path);
    REQUIRE(rd);
    jr::replay_options ro;
    ro.from_realtime_ns = c.entries[12].realtime_ns;
    auto out = jr::replay(*rd, *tx, ro);
    REQUIRE(out);
    CHECK(out->messages == 8);
  }
}

TEST_CASE("journal: a flipped byte stops the reader at that record's offset") {
  scratch_dir dir;
  const std::string path = dir.file("flip.journal");
  record_and_check(path, 1000, 100, {}, 5);
  const contents good = read_all(path);
  REQUIRE(good.entries.size() == 1000);
  for (const std::size_t k : {0, 1, 499, 998}) {
    CAPTURE(k);
    const std::string copy = dir.file("copy" + std::to_string(k));
    std::filesystem::copy_file(path, copy);
    const auto& e = good.entries[k];
    // Payload byte, else a header byte (an empty payload).
    const std::uint64_t at =
        e.offset + (good.payloads[k].empty() ? 20 : jr::record_header_bytes + good.payloads[k].size() / 2);
    flip_byte(copy, at);
    const contents c = read_all(copy);
    CHECK(c.end == jr::read_result::bad);
    CHECK(c.entries.size() == k);
    CHECK(c.bad_offset == e.offset);
    CHECK(c.valid_after_bad);  // the records after it are whole: corruption, not a torn tail
    INFO(c.problem);
  }
  // A flipped header byte: open() refuses the journal.
  const std::string hdr = dir.file("hdr");
  std::filesystem::copy_file(path, hdr);
  flip_byte(hdr, 70);
  CHECK(read_all(hdr).open_error.find("CRC32C") != std::string::npos);
}

TEST_CASE("journal: a torn tail is reported where the whole records stop") {
  scratch_dir dir;
  const std::string path = dir.file("torn.journal");
  record_and_check(path, 500, 100, {}, 6);
  const contents good = read_all(path);
  const auto& e = good.entries[300];
  std::filesystem::resize_file(path, e.offset + 17);  // inside record 300's header
  contents c = read_all(path);
  CHECK(c.end == jr::read_result::bad);
  CHECK(c.entries.size() == 300);
  CHECK(c.bad_offset == e.offset);
  CHECK(!c.valid_after_bad);
  std::filesystem::resize_file(path, e.offset);  // exactly after record 299: no end record
  c = read_all(path);
  CHECK(c.end == jr::read_result::unclosed);
  CHECK(c.entries.size() == 300);
}

TEST_CASE("journal: a ring's items recorded and replayed into another ring") {
  struct item {
    std::uint64_t index;
    char text[16];
  };
  auto a = spsc<item>::create_local(64, pages::normal);
  auto b = spsc<item>::create_local(64, pages::normal);
  REQUIRE(a);
  REQUIRE(b);
  auto pa = a->producer();
  auto ca = a->consumer();
  auto pb = b->producer();
  auto cb = b->consumer();
  REQUIRE((pa && ca && pb && cb));
  scratch_dir dir;
  const std::string path = dir.file("ring.journal");
  constexpr std::uint64_t n = 20000;
  std::thread t([&] {
    for (std::uint64_t i = 0; i < n; ++i) {
      item it{i, {}};
      std::snprintf(it.text, sizeof it.text, "item %llu", static_cast<unsigned long long>(i));
      REQUIRE(pa->push_for(it, 10s) == status::ok);
    }
  });
  {
    jr::writer_options o;
    o.kind = jr::source_kind::ring;
    o.element_size = sizeof(item);
    auto w = jr::writer::create(path, o);
    REQUIRE(w);
    jr::record_options ro;
    ro.count = n;
    auto out = jr::record(jr::ring_source<item>(*ca), *w, ro);
    REQUIRE(out);
    CHECK(out->messages == n);
    REQUIRE(w->close());
  }
  t.join();
  auto rd = jr::reader::open(path);
  REQUIRE(rd);
  CHECK(rd->info().kind == jr::source_kind::ring);
  CHECK(rd->info().element_size == sizeof(item));
  std::thread player([&] {
    auto out = jr::replay(*rd, jr::ring_sink<item>(*pb));
    CHECK(out);
  });
  std::uint64_t bad = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    item it{};
    REQUIRE(cb->pop_for(it, 10s) == status::ok);
    char want[16];
    std::snprintf(want, sizeof want, "item %llu", static_cast<unsigned long long>(i));
    if (it.index != i || std::strcmp(it.text, want) != 0) ++bad;
  }
  player.join();
  CHECK(bad == 0);
}
