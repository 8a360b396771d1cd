# What test folders build on, said once. Included by tests/CMakeLists.txt
# before the folders, so every folder sees the same answers.
#
# A test folder either has what it needs, or it stops with a message that
# names the missing piece and how to install it: nothing is dropped
# silently. Two kinds of need:
#
#  - taas_tests_need_targets(<folder> <target>...): build targets of this
#    tree (taas-server, taas_store...). Every configuration builds them, so
#    a missing one is a broken build, and configuring fails.
#  - taas_tests_skip_unless(<folder> <variable> <reason>): an optional test
#    dependency (cmocka, the Python gRPC stubs, PostgreSQL, a browser). When
#    <variable> is false the folder's tests are skipped with a printed
#    warning giving <reason>, the skip is listed again at the end of the
#    configure step, and `make test` still fails because the tests named in
#    tests/TESTS are not registered (scripts/check-tests.sh).

function(taas_tests_need_targets folder)
  foreach(t IN LISTS ARGN)
    if(NOT TARGET ${t})
      message(FATAL_ERROR "${folder}: build target ${t} is missing. Every configuration "
                          "builds it; a test folder never runs without it.")
    endif()
  endforeach()
endfunction()

# Part of a folder skipped: warn and record, the folder goes on.
function(taas_tests_note_skip what reason)
  message(WARNING "${what}: tests skipped: ${reason}")
  set_property(GLOBAL APPEND PROPERTY TAAS_TESTS_SKIPPED "${what}: ${reason}")
endfunction()

# A macro, so that its return() leaves the calling folder's CMakeLists.txt.
macro(taas_tests_skip_unless folder variable reason)
  if(NOT ${variable})
    taas_tests_note_skip("${folder}" "${reason}")
    return()
  endif()
endmacro()

# The optional dependencies, with the install command each reason names.
if(TARGET PkgConfig::CMOCKA)
  set(TAAS_HAVE_CMOCKA TRUE)
else()
  set(TAAS_HAVE_CMOCKA FALSE)
endif()
set(TAAS_CMOCKA_REASON "cmocka is missing (apt-get install libcmocka-dev; make test runs scripts/deps.sh test)")

# The Python gRPC tests: protoc and grpc_python_plugin make the stubs
# (tests/integration, target integration_py_stubs), python3-grpcio runs them.
find_program(PROTOC protoc)
find_program(GRPC_PYTHON_PLUGIN grpc_python_plugin)
execute_process(COMMAND ${TAAS_PYTHON} -c "import grpc, google.protobuf"
                RESULT_VARIABLE _taas_pygrpc OUTPUT_QUIET ERROR_QUIET)
if(PROTOC AND GRPC_PYTHON_PLUGIN AND _taas_pygrpc EQUAL 0)
  set(TAAS_HAVE_PYGRPC TRUE)
else()
  set(TAAS_HAVE_PYGRPC FALSE)
endif()
set(TAAS_PYGRPC_REASON "the Python gRPC tests need protoc, grpc_python_plugin and python3-grpcio (apt-get install protobuf-compiler protobuf-compiler-grpc python3-grpcio python3-protobuf)")

# PostgreSQL: libpq for the backend and its store tests; the server binaries
# and psql for the throwaway clusters the server-level tests start.
set(TAAS_HAVE_LIBPQ ${PostgreSQL_FOUND})
set(TAAS_LIBPQ_REASON "libpq is missing, so there is no PostgreSQL backend to test (apt-get install libpq-dev postgresql)")
file(GLOB _taas_pg_initdb /usr/lib/postgresql/*/bin/initdb)
find_program(PSQL_BIN psql)
if(TAAS_STORE_POSTGRES AND (_taas_pg_initdb OR DEFINED ENV{PG_BINDIR}) AND PSQL_BIN)
  set(TAAS_HAVE_PG_SERVER TRUE)
else()
  set(TAAS_HAVE_PG_SERVER FALSE)
endif()
set(TAAS_PG_SERVER_REASON "needs the PostgreSQL backend built in (TAAS_STORE_POSTGRES), PostgreSQL's server binaries and psql (apt-get install postgresql postgresql-client)")
