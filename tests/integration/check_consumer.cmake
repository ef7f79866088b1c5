# Installs llmpt into a scratch prefix and builds examples/consumer against it
# with find_package(llmpt): proves install(EXPORT) works for other projects.
#   cmake -DSRC=<source dir> -DBIN=<build dir> -P check_consumer.cmake
set(scratch "${BIN}/consumer-check")
file(REMOVE_RECURSE "${scratch}")
include(${CMAKE_CURRENT_LIST_DIR}/check_run.cmake)
run(${CMAKE_COMMAND} --install "${BIN}" --prefix "${scratch}/prefix")
set(flags "")
if(SANITIZE) # a sanitizer build's library needs the sanitizer's runtime
  set(flags "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=${SANITIZE}")
endif()
run(${CMAKE_COMMAND} -S "${SRC}/examples/consumer" -B "${scratch}/build" -G Ninja
    "-DCMAKE_PREFIX_PATH=${scratch}/prefix" ${flags})
run(${CMAKE_COMMAND} --build "${scratch}/build")
# Without arguments the example prints its usage and exits 2.
execute_process(COMMAND "${scratch}/build/consumer" RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 2 OR NOT err MATCHES "usage")
  message(FATAL_ERROR "consumer did not run as expected: ${rc} ${err}")
endif()
message(STATUS "find_package(llmpt) consumer built and ran")
