// ringport's own rings as bench rows (added once include/ringport/ring.hpp lands).
#include "scenario.hpp"

namespace bench {

void register_ringport(registry&) {}

}  // namespace bench
