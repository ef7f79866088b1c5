# Configures examples/subdirectory (llmpt pulled in with add_subdirectory) and
# compiles the example against it with the compile line CMake derives from
# llmpt::llmpt's usage requirements alone: include path and C++20 come from
# the target, the consumer sets neither. Linking is check_consumer.cmake's
# job (it installs the library); compiling the library a second time here
# would double the suite's build time.
#   cmake -DSRC=<source dir> -DBIN=<build dir> -P check_subdirectory.cmake
set(scratch "${BIN}/subdirectory-check")
file(REMOVE_RECURSE "${scratch}")
include(${CMAKE_CURRENT_LIST_DIR}/check_run.cmake)
run(${CMAKE_COMMAND} -S "${SRC}/examples/subdirectory" -B "${scratch}" -G Ninja
    -DCMAKE_EXPORT_COMPILE_COMMANDS=ON)
file(READ "${scratch}/compile_commands.json" commands)
string(JSON n LENGTH "${commands}")
math(EXPR last "${n} - 1")
set(found "")
foreach(i RANGE ${last})
  string(JSON file GET "${commands}" ${i} file)
  if(file MATCHES "examples/download_snapshot\\.cpp$")
    string(JSON command GET "${commands}" ${i} command)
    string(JSON dir GET "${commands}" ${i} directory)
    set(found "${command}")
  endif()
endforeach()
if(NOT found)
  message(FATAL_ERROR "no compile command for the consumer in ${scratch}/compile_commands.json")
endif()
if(NOT found MATCHES "-std=(c|gnu)\\+\\+20")
  message(FATAL_ERROR "llmpt::llmpt did not bring C++20 to its consumer: ${found}")
endif()
separate_arguments(argv UNIX_COMMAND "${found}")
execute_process(COMMAND ${argv} WORKING_DIRECTORY "${dir}" RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the consumer did not compile against add_subdirectory(llmpt): ${err}")
endif()
message(STATUS "add_subdirectory(llmpt) consumer compiled")
