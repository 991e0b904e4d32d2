// The io layer's rows (issue 14), built when ringport::io is (liburing found).
#include "scenario.hpp"

namespace bench {

void register_journal(registry& r);  // io_journal.cpp
void register_pump(registry& r);     // io_pump.cpp
void register_wakefd(registry& r);   // io_wakefd.cpp

void register_io(registry& r) {
  register_journal(r);
  register_pump(r);
  register_wakefd(r);
}

}  // namespace bench
