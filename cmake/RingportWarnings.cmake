# -Wall -Wextra -Wpedantic, as errors in our own targets (not for users).
add_library(ringport_warnings INTERFACE)
target_compile_options(ringport_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion -Wno-missing-field-initializers -Werror)
