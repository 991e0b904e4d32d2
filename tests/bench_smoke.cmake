# ctest driver for ringport_bench_smoke: run the whole bench suite with
# smoke-test timings, then check that every listed scenario produced figures,
# that every ratio follows from its pairs, and that perf/targets.py reads it.
# -D BENCH=<ringport-bench> -D PYTHON=<python3> -D CHECK=<checker.py> -D JSON=<out file>
file(REMOVE "${JSON}")
execute_process(COMMAND "${BENCH}" --list OUTPUT_FILE "${JSON}.keys" RESULT_VARIABLE list_rc)
if(NOT list_rc EQUAL 0)
  message(FATAL_ERROR "ringport-bench --list failed (exit ${list_rc})")
endif()
execute_process(COMMAND "${BENCH}" --quick --json "${JSON}" RESULT_VARIABLE bench_rc)
if(NOT bench_rc EQUAL 0)
  message(FATAL_ERROR "ringport-bench --quick failed (exit ${bench_rc})")
endif()
execute_process(COMMAND "${PYTHON}" "${CHECK}" "${JSON}" "${JSON}.keys" RESULT_VARIABLE check_rc)
if(NOT check_rc EQUAL 0)
  message(FATAL_ERROR "bench JSON check failed (exit ${check_rc})")
endif()
# perf/targets.py must judge that file (every verdict is fine; it must not fail).
get_filename_component(tests_dir "${CHECK}" DIRECTORY)
execute_process(COMMAND "${PYTHON}" "${tests_dir}/../perf/targets.py" "${JSON}" --detail
  RESULT_VARIABLE targets_rc OUTPUT_VARIABLE targets_out)
if(NOT targets_rc EQUAL 0 OR NOT targets_out MATCHES "\\| target \\| row \\| figure")
  message(FATAL_ERROR "perf/targets.py failed on the smoke JSON (exit ${targets_rc}):\n${targets_out}")
endif()
