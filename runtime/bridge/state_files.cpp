// The bridge's crash-surviving files (state_files.hpp).
#include "state_files.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <random>
#include <utility>

namespace ringport::bridge::detail {
namespace {

constexpr std::uint64_t journal_magic = 0x324c4e524a425052ULL;     // "RPBJRNL2"
constexpr std::uint64_t journal_magic_v1 = 0x314c4e524a425052ULL;  // "RPBJRNL1": 16-byte slot headers
constexpr std::uint64_t seen_magic = 0x314e454553425052ULL;        // "RPBSEEN1"
constexpr std::size_t page = 4096;

struct journal_header {
  std::uint64_t magic, epoch;
  std::uint32_t window, slot_bytes;
  std::uint64_t acked, next;  // progress: single aligned 8-byte stores
};
struct slot_header {
  std::uint64_t seq;
  std::uint32_t len, pad;
  journal::origin from;  // where in the mailbox the message was
};
static_assert(sizeof(slot_header) == 32);
// In the seen table's first page, after the magic.
struct sending_record {
  std::uint64_t seq;  // 0: none; stored last
  std::uint64_t entry, mailbox, position;
};
constexpr std::size_t sending_offset = 64;

struct seen_entry {
  char source[seen_table::max_source_len + 1];
  std::uint64_t last;
};
static_assert(sizeof(seen_entry) == 248);

std::uint64_t load64(const std::uint64_t& w) noexcept {
  return std::atomic_ref<std::uint64_t>(const_cast<std::uint64_t&>(w)).load(std::memory_order_acquire);
}
void store64(std::uint64_t& w, std::uint64_t v) noexcept {
  std::atomic_ref<std::uint64_t>(w).store(v, std::memory_order_release);
}
std::string errno_text(const std::string& what) {
  return what + ": " + std::strerror(errno);
}

std::size_t slot_stride(std::uint32_t slot_bytes) {
  return (sizeof(slot_header) + slot_bytes + 7) & ~std::size_t{7};
}

}  // namespace

mapped_file::mapped_file(mapped_file&& o) noexcept
    : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
mapped_file& mapped_file::operator=(mapped_file&& o) noexcept {
  if (this != &o) {
    this->~mapped_file();
    p_ = std::exchange(o.p_, nullptr);
    n_ = std::exchange(o.n_, 0);
  }
  return *this;
}
mapped_file::~mapped_file() {
  if (p_ != nullptr) ::munmap(p_, n_);
}

std::optional<mapped_file> mapped_file::open(const std::string& path, std::size_t bytes, bool& fresh,
                                             std::string& err) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return err = errno_text(path), std::nullopt;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    err = path + ": not a regular file";
    ::close(fd);
    return std::nullopt;
  }
  fresh = st.st_size == 0;
  if (static_cast<std::uint64_t>(st.st_size) < bytes && ::ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    err = errno_text(path);
    ::close(fd);
    return std::nullopt;
  }
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) return err = errno_text(path), std::nullopt;
  mapped_file f;
  f.p_ = static_cast<std::byte*>(p);
  f.n_ = bytes;
  return f;
}

bool ensure_state_dir(const std::string& dir, std::string& err) {
  for (std::size_t i = 1; i <= dir.size(); ++i) {
    if (i != dir.size() && dir[i] != '/') continue;
    const std::string part = dir.substr(0, i);
    if (::mkdir(part.c_str(), 0700) != 0 && errno != EEXIST) return err = errno_text(part), false;
  }
  return true;
}

std::string state_dir_of(const std::string& given) {
  if (!given.empty()) return given;
  const char* env = std::getenv("RINGPORT_BRIDGE_DIR");
  return env != nullptr && *env != '\0' ? env : "/var/tmp/ringport-bridge";
}

std::optional<journal> journal::open(const std::string& path, std::uint32_t window, std::uint32_t slot_bytes,
                                     std::string& err) {
  const std::size_t bytes = page + window * slot_stride(slot_bytes);
  bool fresh = false;
  auto f = mapped_file::open(path, bytes, fresh, err);
  if (!f) return std::nullopt;
  auto* h = reinterpret_cast<journal_header*>(f->data());
  if (!fresh && h->magic != journal_magic && h->magic != journal_magic_v1)
    return err = path + ": not a bridge journal", std::nullopt;
  const bool v1 = !fresh && h->magic == journal_magic_v1;
  std::uint64_t epoch = 0, next = 1;
  if (fresh) {
    epoch = std::random_device{}() | (std::uint64_t{std::random_device{}()} << 32);
  } else {
    epoch = h->epoch;
    const std::uint64_t acked = load64(h->acked);
    next = load64(h->next);
    if (acked == 0 || acked > next || next - acked > h->window)
      return err = path + ": corrupt journal (acked " + std::to_string(acked) + ", next " +
                   std::to_string(next) + ")",
             std::nullopt;
    if (v1 && acked != next)
      return err = path + ": holds " + std::to_string(next - acked) +
                   " unpublished messages in the journal format of an older ringport: run that bridge once "
                   "to publish them",
             std::nullopt;
    if ((h->window != window || h->slot_bytes != slot_bytes) && acked != next)
      return err = path + ": holds " + std::to_string(next - acked) +
                   " unpublished messages of a journal with --window " + std::to_string(h->window) +
                   " and slots of " + std::to_string(h->slot_bytes) +
                   " bytes: run the bridge once with that window and a mailbox of that message size",
             std::nullopt;
  }
  if (fresh || v1 || h->window != window || h->slot_bytes != slot_bytes) {
    h->epoch = epoch;
    h->window = window;
    h->slot_bytes = slot_bytes;
    store64(h->acked, next);
    store64(h->next, next);
    store64(h->magic, journal_magic);
  }
  journal j;
  j.f_ = std::move(*f);
  j.window_ = window;
  j.slot_bytes_ = slot_bytes;
  return j;
}

std::uint64_t journal::epoch() const noexcept {
  return reinterpret_cast<const journal_header*>(f_.data())->epoch;
}
std::uint64_t journal::acked() const noexcept {
  return load64(reinterpret_cast<const journal_header*>(f_.data())->acked);
}
std::uint64_t journal::next() const noexcept {
  return load64(reinterpret_cast<const journal_header*>(f_.data())->next);
}
std::byte* journal::slot(std::uint64_t seq) const noexcept {
  return f_.data() + page + (seq % window_) * slot_stride(slot_bytes_);
}

void journal::append(std::span<const std::byte> msg, origin from) noexcept {
  auto* h = reinterpret_cast<journal_header*>(f_.data());
  const std::uint64_t seq = load64(h->next);
  std::byte* s = slot(seq);
  slot_header sh{seq, static_cast<std::uint32_t>(msg.size()), 0, from};
  std::memcpy(s, &sh, sizeof sh);
  if (!msg.empty()) std::memcpy(s + sizeof sh, msg.data(), msg.size());
  store64(h->next, seq + 1);  // the message is in the journal from here on
}

std::optional<std::span<const std::byte>> journal::entry(std::uint64_t seq) const noexcept {
  const std::byte* s = slot(seq);
  slot_header sh{};
  std::memcpy(&sh, s, sizeof sh);  // read once, then checked
  if (sh.seq != seq || sh.len > slot_bytes_) return std::nullopt;
  return std::span<const std::byte>(s + sizeof sh, sh.len);
}

std::optional<journal::origin> journal::last_origin() const noexcept {
  const std::uint64_t last = next() - 1;  // next() >= 1
  slot_header sh{};
  std::memcpy(&sh, slot(last), sizeof sh);  // read once, then checked
  if (last == 0 || sh.seq != last) return std::nullopt;
  return sh.from;
}

void journal::acknowledge(std::uint64_t seq) noexcept {
  store64(reinterpret_cast<journal_header*>(f_.data())->acked, seq);
}

std::optional<seen_table> seen_table::open(const std::string& path, std::string& err) {
  bool fresh = false;
  auto f = mapped_file::open(path, page + max_sources * sizeof(seen_entry), fresh, err);
  if (!f) return std::nullopt;
  auto* magic = reinterpret_cast<std::uint64_t*>(f->data());
  if (fresh) store64(*magic, seen_magic);
  if (*magic != seen_magic) return err = path + ": not a bridge seen table", std::nullopt;
  seen_table t;
  t.f_ = std::move(*f);
  return t;
}

std::uint64_t* seen_table::last_of(std::string_view source) noexcept {
  if (source.empty() || source.size() > max_source_len) return nullptr;
  auto* e = reinterpret_cast<seen_entry*>(f_.data() + page);
  for (std::size_t i = 0; i < max_sources; ++i) {
    char name[max_source_len + 1];
    std::memcpy(name, e[i].source, sizeof name);  // read once
    name[max_source_len] = '\0';
    if (name[0] == '\0') {  // a free entry: the source is new
      e[i].last = 0;
      std::memcpy(e[i].source, source.data(), source.size());
      e[i].source[source.size()] = '\0';
      return &e[i].last;
    }
    if (source == std::string_view(name)) return &e[i].last;
  }
  return nullptr;
}

void seen_table::set_sending(const sending& s) noexcept {
  auto* r = reinterpret_cast<sending_record*>(f_.data() + sending_offset);
  const auto at = reinterpret_cast<const std::byte*>(s.last) - (f_.data() + page);
  r->entry = static_cast<std::uint64_t>(at) / sizeof(seen_entry);  // s.last is an entry's `last`
  r->mailbox = s.mailbox;
  r->position = s.position;
  store64(r->seq, s.seq);  // valid from here on
}

void seen_table::clear_sending() noexcept {
  store64(reinterpret_cast<sending_record*>(f_.data() + sending_offset)->seq, 0);
}

std::optional<seen_table::sending> seen_table::left_sending() noexcept {
  auto* r = reinterpret_cast<sending_record*>(f_.data() + sending_offset);
  const std::uint64_t seq = load64(r->seq);
  const std::uint64_t entry = r->entry;  // read once, then checked
  if (seq == 0 || entry >= max_sources) return std::nullopt;
  auto* e = reinterpret_cast<seen_entry*>(f_.data() + page);
  return sending{&e[entry].last, seq, r->mailbox, r->position};
}

std::uint64_t seen_table::load(const std::uint64_t* w) noexcept {
  return load64(*w);
}
void seen_table::store(std::uint64_t* w, std::uint64_t v) noexcept {
  store64(*w, v);
}

std::optional<std::pair<std::string_view, std::uint64_t>> split_msg_id(std::string_view id) noexcept {
  const auto slash = id.rfind('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == id.size() || id.size() - slash > 20)
    return std::nullopt;
  std::uint64_t seq = 0;
  for (char c : id.substr(slash + 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    seq = seq * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (seq == 0 || seq > (std::uint64_t{1} << 63)) return std::nullopt;
  return std::pair{id.substr(0, slash), seq};
}

}  // namespace ringport::bridge::detail
