// Fuzz target: a ring whose shared state is hostile.
//
// Input: [kind][capacity] then operations. A create_local ring of the chosen
// kind gets up to two producer and two consumer handles; the operations
// push, pop, claim/commit, peek/release (plain, batched and with tiny
// deadlines), re-attach handles, close, and overwrite shared words
// (positions, turns, role slots, event counts, geometry) between and inside
// the operations.
//
// Checked: every span a call returns lies inside the ring's slots (ASan
// cannot see an access that lands in other mapped memory) and starts a
// slot; counts never exceed what was asked or the capacity; size() <=
// capacity. Until the first overwrite the ring must also behave exactly like
// a FIFO of `capacity` items (a model queue): a hostile write may only make
// later calls fail (status::corrupt, would_block, wrong items), never
// misbehave before it.
#include <chrono>
#include <cstring>
#include <deque>
#include <optional>

#include "fuzz_util.hpp"
#include "ringport/ring.hpp"

namespace {

using namespace ringport;
using std::chrono::microseconds;

// Items are filled with one number in every word, so a torn or misplaced
// copy shows. Both sizes are multiples of 8: see the stride note in the README.
struct item24 {
  std::uint64_t w[3];
};
template <class T>
T make_item(std::uint64_t id) {
  T v;
  std::uint64_t words[sizeof(T) / 8];
  for (auto& x : words) x = id;
  std::memcpy(&v, words, sizeof v);
  return v;
}
template <class T>
std::optional<std::uint64_t> id_of(const T& v) {
  std::uint64_t words[sizeof(T) / 8];
  std::memcpy(words, &v, sizeof v);
  for (auto x : words)
    if (x != words[0]) return std::nullopt;
  return words[0];
}

template <class Ring>
class session {
  using T = typename Ring::value_type;
  using producer = typename Ring::producer_handle;
  using consumer = typename Ring::consumer_handle;

 public:
  session(Ring r, fuzz::input& in) : r_(std::move(r)), in_(in), cap_(r_.capacity()) {
    attach_consumer(0);
    FUZZ_CHECK(c_[0].has_value());
    map_ = fuzz::locate(c_[0]->readable(), r_.info());
    // Contiguous spans of T over the slots need stride == sizeof(T).
    FUZZ_CHECK(map_.geo.stride == sizeof(T));
    words_ = fuzz::control_words(map_);
    attach_producer(0);
    FUZZ_CHECK(p_[0].has_value());
    attach_producer(1);
    attach_consumer(1);
  }

  void run() {
    while (!in_.empty()) step();
  }

 private:
  void attach_producer(std::size_t i) {
    p_[i].reset();
    if (auto h = r_.producer(policy())) p_[i].emplace(std::move(*h));
  }
  void attach_consumer(std::size_t i) {
    c_[i].reset();
    if (auto h = r_.consumer(policy())) c_[i].emplace(std::move(*h));
  }
  wait_policy policy() {
    static constexpr wait_policy all[] = {wait_policy::block, wait_policy::adaptive, wait_policy::busy_spin};
    return all[in_.below(3)];
  }
  // One of the two handles (the other when that one is missing), or null.
  template <class H>
  H* pick(std::optional<H> (&hs)[2]) {
    const std::size_t i = in_.below(2);
    if (hs[i]) return &*hs[i];
    return hs[1 - i] ? &*hs[1 - i] : nullptr;
  }
  producer* prod() { return pick(p_); }
  consumer* cons() { return pick(c_); }
  std::chrono::steady_clock::time_point soon() {
    return std::chrono::steady_clock::now() + microseconds(in_.below(200));
  }
  std::size_t count() { return in_.below(2 * cap_ + 2); }

  void hostile_write() {
    fuzz::overwrite(words_[in_.below(words_.size())], in_, cap_);
    clean_ = false;
  }

  // ---- checks against the slots and the model

  template <class U>
  void check_span(std::span<U> s, std::size_t asked) {
    FUZZ_CHECK(s.size() <= asked && s.size() <= cap_);
    if (!s.empty()) FUZZ_CHECK(map_.in_slots(s.data(), s.size_bytes()));
  }
  void popped(const T& v) {
    if (!clean_) return;
    FUZZ_CHECK(!model_.empty());
    FUZZ_CHECK(id_of(v) == model_.front());
    model_.pop_front();
  }
  // A single push when clean: ok exactly when there is room.
  void expect_push(status s, bool timed) {
    if (!clean_) return;
    const status want = closed_                ? status::closed
                        : model_.size() < cap_ ? status::ok
                        : timed                ? status::timed_out
                                               : status::would_block;
    FUZZ_CHECK(s == want);
  }
  void expect_pop(status s, bool timed) {
    if (!clean_) return;
    const status want = !model_.empty() ? status::ok
                        : closed_       ? status::closed
                        : timed         ? status::timed_out
                                        : status::would_block;
    FUZZ_CHECK(s == want);
  }
  // A batch when clean: exactly min(asked, room) (0 when closed).
  void expect_batch(std::size_t n, std::size_t asked, std::size_t avail) {
    if (clean_) FUZZ_CHECK(n == std::min(asked, avail));
  }
  // A zero-copy span when clean: non-empty when anything is available,
  // never more than that.
  void expect_zero_copy(std::size_t n, std::size_t asked, std::size_t avail) {
    if (!clean_) return;
    FUZZ_CHECK(n <= std::min(asked, avail));
    if (asked != 0 && avail != 0) FUZZ_CHECK(n != 0);
  }
  std::size_t room() const { return closed_ ? 0 : cap_ - model_.size(); }

  // ---- operations

  void step() {
    switch (in_.u8() % 14) {
      case 0:
      case 1:
        return hostile_write();
      case 2:
        return op_try_push();
      case 3:
        return op_try_pop();
      case 4:
        return op_push_n();
      case 5:
        return op_pop_n();
      case 6:
        return op_claim(false);
      case 7:
        return op_peek(false);
      case 8:
        return op_timed_push();
      case 9:
        return op_timed_pop();
      case 10:
        return op_claim(true);
      case 11:
        return op_peek(true);
      case 12:
        return in_.bit() ? attach_producer(in_.below(2)) : attach_consumer(in_.below(2));
      default:
        if (in_.below(8) == 0) {
          r_.close();
          closed_ = true;
        }
        FUZZ_CHECK(r_.size() <= cap_);
        if (clean_) FUZZ_CHECK(r_.size() == model_.size());
        return;
    }
  }

  void op_try_push() {
    producer* p = prod();
    if (!p) return;
    const status s = p->try_push(make_item<T>(next_));
    expect_push(s, false);
    if (s == status::ok) model_.push_back(next_);
    ++next_;
  }
  void op_timed_push() {
    producer* p = prod();
    if (!p) return;
    const status s = p->push_until(make_item<T>(next_), soon());
    expect_push(s, true);
    if (s == status::ok) model_.push_back(next_);
    ++next_;
  }
  void op_try_pop() {
    consumer* c = cons();
    if (!c) return;
    T v{};
    const status s = c->try_pop(v);
    expect_pop(s, false);
    if (s == status::ok) popped(v);
  }
  void op_timed_pop() {
    consumer* c = cons();
    if (!c) return;
    T v{};
    const status s = c->pop_until(v, soon());
    expect_pop(s, true);
    if (s == status::ok) popped(v);
  }
  void op_push_n() {
    producer* p = prod();
    if (!p) return;
    const std::size_t k = count();
    std::vector<T> items(k);
    for (std::size_t i = 0; i < k; ++i) items[i] = make_item<T>(next_ + i);
    const std::size_t avail = room();
    const bool wait = in_.bit();
    status why = status::ok;
    const std::size_t n = wait ? p->push_n_until(items.data(), k, soon(), &why) : p->push_n(items.data(), k);
    FUZZ_CHECK(n <= k);
    expect_batch(n, k, avail);
    for (std::size_t i = 0; i < n; ++i) model_.push_back(next_ + i);
    next_ += k;
  }
  void op_pop_n() {
    consumer* c = cons();
    if (!c) return;
    const std::size_t k = count();
    std::vector<T> out(k);
    const std::size_t avail = model_.size();
    const bool wait = in_.bit();
    status why = status::ok;
    const std::size_t n = wait ? c->pop_n_until(out.data(), k, soon(), &why) : c->pop_n(out.data(), k);
    FUZZ_CHECK(n <= k);
    expect_batch(n, k, avail);
    for (std::size_t i = 0; i < n; ++i) popped(out[i]);
  }
  void op_claim(bool wait) {
    producer* p = prod();
    if (!p) return;
    const std::size_t k = count();
    const std::size_t avail = room();
    status why = status::ok;
    std::span<T> s = wait ? p->claim_until(k, soon(), &why) : p->claim(k);
    check_span(s, k);
    expect_zero_copy(s.size(), k, avail);
    for (std::size_t i = 0; i < s.size(); ++i) s[i] = make_item<T>(next_ + i);
    if (in_.below(4) == 0) hostile_write();  // between claim and commit
    p->commit();
    for (std::size_t i = 0; i < s.size(); ++i) model_.push_back(next_ + i);
    next_ += s.size();
  }
  void op_peek(bool wait) {
    consumer* c = cons();
    if (!c) return;
    const std::size_t k = count();
    const std::size_t avail = model_.size();
    status why = status::ok;
    std::span<const T> s = wait ? c->peek_until(k, soon(), &why) : c->peek(k);
    check_span(s, k);
    expect_zero_copy(s.size(), k, avail);
    for (const T& v : s) popped(v);
    if (in_.below(4) == 0) hostile_write();  // between peek and release
    c->release();
  }

  Ring r_;
  fuzz::input& in_;
  std::size_t cap_;
  fuzz::ring_map map_;
  std::vector<fuzz::word> words_;
  std::optional<producer> p_[2];
  std::optional<consumer> c_[2];
  std::deque<std::uint64_t> model_;
  std::uint64_t next_ = 1;
  bool clean_ = true;
  bool closed_ = false;
};

template <class Ring>
void fuzz_kind(fuzz::input& in) {
  const std::size_t cap = std::size_t{1} << in.below(5);  // 1 .. 16
  auto r = Ring::create_local(cap, pages::normal);
  FUZZ_CHECK(r.has_value());
  session<Ring>(std::move(*r), in).run();
}

std::vector<std::vector<std::uint8_t>> seeds() {
  // kind, capacity exponent, then operations (see step()).
  std::vector<std::vector<std::uint8_t>> out;
  for (std::uint8_t kind = 0; kind < 8; ++kind) {
    out.push_back({kind, 1, 2, 0, 2, 0, 3, 0, 4, 0, 3, 5, 0, 5, 6, 0, 3, 7, 0, 3});
    out.push_back({kind, 2, 4, 0, 9, 0, 0, 25, 0, 1, 5, 0, 9, 3, 0, 0, 8, 0, 1});      // push, bump head, pop
    out.push_back({kind, 0, 2, 0, 1, 26, 1, 7, 0, 3, 0, 12, 1, 1, 3, 0});              // tail + lap, reattach
    out.push_back({kind, 3, 6, 0, 5, 0, 11, 0, 0, 0, 9, 0, 0, 13, 0, 7, 7, 0, 0, 2});  // claim, peek, close
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::seeds_mode(seeds);
  fuzz::private_root();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::input in(data, size);
  switch (in.u8() % 8) {
    case 0:
      fuzz_kind<spsc<std::uint64_t>>(in);
      break;
    case 1:
      fuzz_kind<mpsc<std::uint64_t>>(in);
      break;
    case 2:
      fuzz_kind<spmc<std::uint64_t>>(in);
      break;
    case 3:
      fuzz_kind<mpmc<std::uint64_t>>(in);
      break;
    case 4:
      fuzz_kind<spsc<item24>>(in);
      break;
    case 5:
      fuzz_kind<mpsc<item24>>(in);
      break;
    case 6:
      fuzz_kind<spmc<item24>>(in);
      break;
    default:
      fuzz_kind<mpmc<item24>>(in);
      break;
  }
  return 0;
}
