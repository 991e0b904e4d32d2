#include "journal_util.hpp"

#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>

namespace journal_test {

scratch_dir::scratch_dir() {
  char tmpl[] = "/tmp/ringport-journal-XXXXXX";
  const char* p = ::mkdtemp(tmpl);
  REQUIRE(p != nullptr);
  path = p;
}
scratch_dir::~scratch_dir() {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

namespace {
std::uint64_t mix(std::uint64_t x) {  // splitmix64's finaliser
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
}  // namespace

std::vector<std::byte> message(std::uint64_t seed, std::uint64_t i, std::size_t max) {
  std::uint64_t h = mix(seed * 1000003 + i);
  const std::size_t n = static_cast<std::size_t>(h % (max + 1));
  std::vector<std::byte> m(n);
  for (std::size_t k = 0; k < n; ++k) {
    if (k % 8 == 0) h = mix(h);
    m[k] = static_cast<std::byte>(h >> (8 * (k % 8)));
  }
  if (n >= 8)
    for (std::size_t k = 0; k < 8; ++k) m[k] = static_cast<std::byte>(i >> (8 * k));
  return m;
}

std::uint64_t index_of(const std::vector<std::byte>& m) {
  if (m.size() < 8) return ~std::uint64_t{0};
  std::uint64_t i = 0;
  for (std::size_t k = 0; k < 8; ++k) i |= std::uint64_t(std::to_integer<unsigned>(m[k])) << (8 * k);
  return i;
}

ringport::mailbox make_mailbox(const std::string& name, std::size_t capacity, std::size_t max) {
  ringport::mailbox_options o;
  o.capacity = capacity;
  o.max_message_size = max;
  o.backing = ringport::pages::normal;
  (void)ringport::mailbox::remove(name);  // left by an earlier subcase of the same test
  auto b = ringport::mailbox::create(name, o);
  REQUIRE_MESSAGE(b, b.error().message);
  return std::move(*b);
}

contents read_all(const std::string& path) {
  contents c;
  auto r = ringport::journal::reader::open(path);
  if (!r) {
    c.open_error = r.error().message;
    return c;
  }
  ringport::journal::entry e;
  for (;;) {
    c.end = r->next(e);
    if (c.end != ringport::journal::read_result::record) break;
    c.payloads.emplace_back(e.payload.begin(), e.payload.end());
    e.payload = {};
    c.entries.push_back(e);
  }
  c.bad_offset = r->bad_offset();
  c.bad_part = r->bad_part();
  c.problem = r->problem();
  c.valid_after_bad = r->valid_record_after_bad();
  return c;
}

}  // namespace journal_test
