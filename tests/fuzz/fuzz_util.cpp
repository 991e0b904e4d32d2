#include "fuzz_util.hpp"

#include <stdlib.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "ringport/detail/ring_state.hpp"

namespace fuzz {

void fail(const char* what, const char* file, int line) {
  std::fprintf(stderr, "fuzz check failed: %s (%s:%d)\n", what, file, line);
  std::abort();
}

namespace {
std::string g_root;
void remove_root() {
  std::error_code ec;
  if (!g_root.empty()) std::filesystem::remove_all(g_root, ec);
}
}  // namespace

const std::string& private_root() {
  if (!g_root.empty()) return g_root;
  const char* base = std::getenv("RINGPORT_FUZZ_TMP");
  std::string tmpl = std::string(base && *base ? base : "/dev/shm") + "/ringport-fuzz-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    std::fprintf(stderr, "fuzz: mkdtemp %s: %s\n", tmpl.c_str(), std::strerror(errno));
    std::exit(1);
  }
  g_root = tmpl;
  std::atexit(remove_root);
  ::setenv("RINGPORT_SHM_DIR", g_root.c_str(), 1);
  // Not a hugetlbfs mount: every segment uses base pages, whatever the
  // machine has mounted, so runs are reproducible.
  ::setenv("RINGPORT_HUGETLBFS", g_root.c_str(), 1);
  ::setenv("RINGPORT_DOMAIN", "fuzz", 1);
  ringport::set_notice_handler([](std::string_view) {});
  return g_root;
}

std::string domain_dir(const std::string& domain) {
  const std::string dir = private_root() + "/ringport." + domain;
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    std::fprintf(stderr, "fuzz: mkdir %s: %s\n", dir.c_str(), std::strerror(errno));
    std::exit(1);
  }
  return dir;
}

void seeds_mode(std::vector<std::vector<std::uint8_t>> (*make)()) {
  const char* dir = std::getenv("RINGPORT_FUZZ_SEEDS");
  if (!dir || !*dir) return;
  const auto seeds = make();
  for (std::size_t i = 0; i < seeds.size(); ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "/seed-%03zu", i);
    std::ofstream f(std::string(dir) + name, std::ios::binary);
    f.write(reinterpret_cast<const char*>(seeds[i].data()), static_cast<std::streamsize>(seeds[i].size()));
    if (!f) {
      std::fprintf(stderr, "fuzz: cannot write seeds to %s\n", dir);
      std::exit(1);
    }
  }
  std::printf("fuzz: wrote %zu seeds to %s\n", seeds.size(), dir);
  std::exit(0);
}

void put_u8(std::vector<std::uint8_t>& out, std::uint64_t v) {
  out.push_back(static_cast<std::uint8_t>(v));
}
void put_u32(std::vector<std::uint8_t>& out, std::uint64_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
void put_u64(std::vector<std::uint8_t>& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

bool ring_map::in_slots(const void* p, std::size_t bytes) const {
  const auto* b = static_cast<const std::byte*>(p);
  if (b < data || b >= data_end || bytes > static_cast<std::size_t>(data_end - b)) return false;
  return static_cast<std::uint64_t>(b - data) % geo.stride == 0;
}

bool ring_map::in_one_slot(const void* p, std::size_t bytes, std::size_t offset) const {
  const auto* b = static_cast<const std::byte*>(p);
  if (b < data + offset || b >= data_end || offset > geo.stride) return false;
  const auto from = static_cast<std::uint64_t>(b - data) - offset;
  return from % geo.stride == 0 && bytes <= geo.stride - offset;
}

ring_map locate(const ringport::waitable& w, const ringport::segment_info& info) {
  using ringport::detail::ring_shared;
  ring_map m;
  m.payload = reinterpret_cast<std::byte*>(w.event) - offsetof(ring_shared, not_empty);
  m.shared = reinterpret_cast<ring_shared*>(m.payload);
  m.payload_size = info.payload_size;
  std::memcpy(&m.geo, &m.shared->geo, sizeof m.geo);
  const auto& g = m.geo;
  // The geometry was made by this process a moment ago; still, check it
  // before the targets trust it to find the regions.
  FUZZ_CHECK(g.capacity != 0 && g.stride != 0 && g.data_offset >= sizeof(ring_shared));
  FUZZ_CHECK(g.bytes <= m.payload_size && g.data_offset + g.capacity * g.stride <= g.bytes);
  m.turns = g.turns_offset != 0 ? reinterpret_cast<std::atomic<std::uint64_t>*>(m.payload + g.turns_offset)
                                : nullptr;
  m.data = m.payload + g.data_offset;
  m.data_end = m.data + g.capacity * g.stride;
  m.extra = g.extra_bytes != 0 ? m.payload + ringport::detail::extra_offset(g) : nullptr;
  return m;
}

std::vector<word> control_words(const ring_map& m) {
  auto* s = m.shared;
  std::vector<word> out;
  // The geometry: the engines must never read it again after attaching.
  auto* geo = reinterpret_cast<std::atomic<std::uint64_t>*>(&s->geo);
  for (std::size_t i = 0; i < offsetof(ringport::detail::ring_geometry, kind) / 8; ++i)
    out.push_back({&geo[i], nullptr});
  out.push_back({nullptr, &s->closed});
  out.push_back({&s->tail, nullptr});
  out.push_back({&s->head, nullptr});
  for (auto* ec : {&s->not_empty, &s->not_full}) {
    out.push_back({nullptr, &ec->seq});
    out.push_back({nullptr, &ec->waiters});
    out.push_back({&ec->bells, nullptr});
    out.push_back({nullptr, &ec->reserved});
  }
  for (auto* t : {&s->producers, &s->consumers})
    for (auto& slot : t->slots) out.push_back({&slot.owner, nullptr});
  for (auto* claims : {s->producer_claims, s->consumer_claims})
    for (std::size_t i = 0; i < ringport::detail::max_roles; ++i) {
      out.push_back({&claims[i].from, nullptr});
      out.push_back({&claims[i].end, nullptr});
    }
  for (auto* c : {&s->recovery.abandoned, &s->recovery.reclaimed, &s->recovery.takeovers})
    out.push_back({c, nullptr});
  if (m.turns)
    for (std::uint64_t i = 0; i < m.geo.capacity; ++i) out.push_back({&m.turns[i], nullptr});
  return out;
}

std::uint64_t mutate(std::uint64_t cur, input& in, std::uint64_t capacity) {
  std::uint64_t v = 0;
  switch (in.u8() % 4) {
    case 0:  // a small step: neighbouring positions, laps and turns
      v = cur + static_cast<std::uint64_t>(static_cast<std::int8_t>(in.u8()));
      break;
    case 1:
      v = in.u64();
      break;
    case 2: {
      const std::uint64_t special[] = {0,
                                       1,
                                       2,
                                       capacity,
                                       capacity - 1,
                                       capacity + 1,
                                       2 * capacity,
                                       ~std::uint64_t{0},
                                       std::uint64_t{1} << 63,
                                       std::uint64_t{1} << 32};
      v = special[in.below(sizeof special / sizeof special[0])];
      break;
    }
    default:  // a step of whole laps
      v = cur + capacity * static_cast<std::uint64_t>(static_cast<std::int8_t>(in.u8()));
      break;
  }
  return v;
}

void overwrite(const word& w, input& in, std::uint64_t capacity) {
  const std::uint64_t cur =
      w.w64 ? w.w64->load(std::memory_order_relaxed) : w.w32->load(std::memory_order_relaxed);
  const std::uint64_t v = mutate(cur, in, capacity);
  if (w.w64)
    w.w64->store(v, std::memory_order_relaxed);
  else
    w.w32->store(static_cast<std::uint32_t>(v), std::memory_order_relaxed);
}

}  // namespace fuzz
