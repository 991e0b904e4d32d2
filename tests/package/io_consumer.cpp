// The io layer's packaging test program (ringport::io, ringport-io.pc): it
// knows ringport only through the installed (or add_subdirectory'd)
// package. It writes a journal of 1000 messages through io_uring, reads it
// back (payloads, sequence numbers, the clean end) and checks a CRC32C,
// removes the journal and exits non-zero on any failure. Where io_uring is
// disabled (io_uring_disabled sysctl, a seccomp filter) it exits 77.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <ringport/crc32c.hpp>
#include <ringport/journal.hpp>
#include <ringport/pump.hpp>
#include <string>
#include <vector>

namespace {
int fail(const char* step, const std::string& why) {
  std::fprintf(stderr, "io consumer: %s failed: %s\n", step, why.c_str());
  return 1;
}
std::vector<std::byte> payload(std::uint64_t i) {
  std::vector<std::byte> m(i % 97);
  for (std::size_t k = 0; k < m.size(); ++k) m[k] = static_cast<std::byte>(i * 31 + k);
  return m;
}
}  // namespace

int main() {
  // The CRC32C of "123456789" (the usual check value).
  const char digits[] = "123456789";
  if (ringport::crc32c(0, std::as_bytes(std::span(digits, 9))) != 0xe3069283u)
    return fail("crc32c", "wrong check value");
  // The pumps link too (nothing is run through them here).
  if (!ringport::pump_loop::create()) {
    std::puts("io consumer: io_uring unavailable here, skipped");
    return 77;
  }

  const std::string path = "/tmp/ringport-io-consumer-" + std::to_string(::getpid()) + ".journal";
  ringport::journal::writer_options opt;
  opt.source_name = "package";
  opt.overwrite = true;
  auto w = ringport::journal::writer::create(path, opt);
  if (!w) return fail("writer::create", w.error().message);
  for (std::uint64_t i = 0; i < 1000; ++i)
    if (!w->append(payload(i))) return fail("append", w->error().message);
  if (auto c = w->close(); !c) return fail("close", c.error().message);

  auto r = ringport::journal::reader::open(path);
  if (!r) return fail("reader::open", r.error().message);
  ringport::journal::entry e;
  std::uint64_t n = 0;
  ringport::journal::read_result got;
  while ((got = r->next(e)) == ringport::journal::read_result::record) {
    const auto want = payload(n);
    if (e.sequence != n || e.payload.size() != want.size() ||
        (!want.empty() && std::memcmp(e.payload.data(), want.data(), want.size()) != 0))
      return fail("read back", "record " + std::to_string(n) + " differs");
    ++n;
  }
  ::unlink(path.c_str());
  if (got != ringport::journal::read_result::end) return fail("read back", "no clean end: " + r->problem());
  if (n != 1000) return fail("read back", std::to_string(n) + " records, not 1000");
  std::puts("io consumer: 1000 records written and read back");
  return 0;
}
