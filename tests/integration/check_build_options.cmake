# A tree configured with -DLLMPT_BUILD_TOOLS=OFF still has its unit tests and
# fuzz corpora (the integration tier needs the tools and is left out).
# Configure only: the targets' compile lines are the normal build's.
#   cmake -DSRC=<source dir> -DBIN=<build dir> -P check_build_options.cmake
set(scratch "${BIN}/options-check")
file(REMOVE_RECURSE "${scratch}")
execute_process(COMMAND ${CMAKE_COMMAND} -S "${SRC}" -B "${scratch}" -G Ninja -DLLMPT_BUILD_TOOLS=OFF
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "-DLLMPT_BUILD_TOOLS=OFF does not configure:\n${out}\n${err}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build "${scratch}" --target help
                RESULT_VARIABLE rc OUTPUT_VARIABLE targets)
foreach(want unit_tests fuzz_torrent llmpt)
  if(NOT targets MATCHES "(^|\n)${want}:")
    message(FATAL_ERROR "-DLLMPT_BUILD_TOOLS=OFF lost the target ${want}")
  endif()
endforeach()
if(targets MATCHES "(^|\n)llmpt_cli:")
  message(FATAL_ERROR "-DLLMPT_BUILD_TOOLS=OFF still builds the CLI")
endif()
execute_process(COMMAND ${CMAKE_CTEST_COMMAND} -N --test-dir "${scratch}" OUTPUT_VARIABLE tests)
if(NOT tests MATCHES "Test +#[0-9]+: unit\n" OR tests MATCHES "integration\\.")
  message(FATAL_ERROR "-DLLMPT_BUILD_TOOLS=OFF: expected the unit tests and no integration tests:\n${tests}")
endif()
file(REMOVE_RECURSE "${scratch}")
message(STATUS "-DLLMPT_BUILD_TOOLS=OFF configures with its unit tests")
