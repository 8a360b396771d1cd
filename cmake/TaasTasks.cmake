# Specs -> generated/ -> the taas_tasks library.
#
# codegen/taasgen.py reads every task-specs/*.yaml|json and
# task-specs/schemas/*.yaml|json and writes generated/<task>.{h,c},
# generated/schema_<name>.{h,c}, generated/registry.c and generated/examples.c.
# generated/ is committed; the build regenerates it whenever a spec or the
# generator changes (it rewrites only files whose bytes change, and deletes
# generated files of removed specs). `make check-generated` then fails on a
# stale commit.

set(TAAS_SPECS_DIR ${CMAKE_SOURCE_DIR}/task-specs)
set(TAAS_GENERATED_DIR ${CMAKE_SOURCE_DIR}/generated)

file(GLOB TAAS_TASK_SPECS CONFIGURE_DEPENDS
     ${TAAS_SPECS_DIR}/*.yaml ${TAAS_SPECS_DIR}/*.json)
file(GLOB TAAS_SCHEMA_SPECS CONFIGURE_DEPENDS
     ${TAAS_SPECS_DIR}/schemas/*.yaml ${TAAS_SPECS_DIR}/schemas/*.json)
file(GLOB TAAS_CODEGEN_PY CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/codegen/*.py)
list(SORT TAAS_TASK_SPECS)
list(SORT TAAS_SCHEMA_SPECS)

set(TAAS_GENERATED_SOURCES ${TAAS_GENERATED_DIR}/registry.c)
set(TAAS_GENERATED_FILES ${TAAS_GENERATED_DIR}/registry.c ${TAAS_GENERATED_DIR}/examples.c)
foreach(spec IN LISTS TAAS_TASK_SPECS)
  get_filename_component(stem ${spec} NAME_WE)
  list(APPEND TAAS_GENERATED_SOURCES ${TAAS_GENERATED_DIR}/${stem}.c)
  list(APPEND TAAS_GENERATED_FILES ${TAAS_GENERATED_DIR}/${stem}.c ${TAAS_GENERATED_DIR}/${stem}.h)
endforeach()
foreach(spec IN LISTS TAAS_SCHEMA_SPECS)
  get_filename_component(stem ${spec} NAME_WE)
  list(APPEND TAAS_GENERATED_SOURCES ${TAAS_GENERATED_DIR}/schema_${stem}.c)
  list(APPEND TAAS_GENERATED_FILES ${TAAS_GENERATED_DIR}/schema_${stem}.c
                                   ${TAAS_GENERATED_DIR}/schema_${stem}.h)
endforeach()

set(TAAS_GENERATE_STAMP ${CMAKE_BINARY_DIR}/taasgen.stamp)
add_custom_command(
  OUTPUT ${TAAS_GENERATE_STAMP}
  BYPRODUCTS ${TAAS_GENERATED_FILES}
  COMMAND ${TAAS_PYTHON} ${CMAKE_SOURCE_DIR}/codegen/taasgen.py
          --specs task-specs --out generated --stamp ${TAAS_GENERATE_STAMP}
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}
  DEPENDS ${TAAS_TASK_SPECS} ${TAAS_SCHEMA_SPECS} ${TAAS_CODEGEN_PY}
  COMMENT "Generating C from task-specs/ (codegen/taasgen.py)"
  VERBATIM)
add_custom_target(taas_generate DEPENDS ${TAAS_GENERATE_STAMP})

# Task bodies: examples/tasks/*.c and, when the folder exists, tasks/*.c.
file(GLOB TAAS_TASK_BODIES CONFIGURE_DEPENDS
     ${CMAKE_SOURCE_DIR}/examples/tasks/*.c ${CMAKE_SOURCE_DIR}/tasks/*.c)
file(GLOB TAAS_TASK_BODY_HEADERS CONFIGURE_DEPENDS
     ${CMAKE_SOURCE_DIR}/examples/tasks/*.h ${CMAKE_SOURCE_DIR}/tasks/*.h)
list(SORT TAAS_TASK_BODIES)

# The author API boundary. Bodies compile with only the public headers
# (runtime/include/taas/), generated/ (their task's header) and their own
# folders on the include path, plus jsmn's folder (taas/json.h documents
# its tokens as jsmn's); they link nothing here, so no internal target's
# include path reaches them. taas_body_boundary checks their #include lines
# before they compile (cmake/TaasBodyBoundary.cmake) and fails the build on
# an internal header. The generated code is not a body: it implements the
# schema tables and compiles in taas_tasks, with the runtime's headers.
set(TAAS_BODY_INCLUDE_DIRS ${CMAKE_SOURCE_DIR}/runtime/include ${CMAKE_SOURCE_DIR}/generated
    ${CMAKE_SOURCE_DIR}/examples/tasks)
if(EXISTS ${CMAKE_SOURCE_DIR}/tasks)
  list(APPEND TAAS_BODY_INCLUDE_DIRS ${CMAKE_SOURCE_DIR}/tasks)
endif()
set(TAAS_BODY_BOUNDARY_STAMP ${CMAKE_BINARY_DIR}/taas-body-boundary.stamp)
add_custom_command(
  OUTPUT ${TAAS_BODY_BOUNDARY_STAMP}
  COMMAND ${CMAKE_COMMAND} "-DFILES=${TAAS_TASK_BODIES};${TAAS_TASK_BODY_HEADERS}"
          "-DALLOWED=${TAAS_BODY_INCLUDE_DIRS}"
          -P ${CMAKE_SOURCE_DIR}/cmake/TaasBodyBoundary.cmake
  COMMAND ${CMAKE_COMMAND} -E touch ${TAAS_BODY_BOUNDARY_STAMP}
  DEPENDS ${TAAS_TASK_BODIES} ${TAAS_TASK_BODY_HEADERS}
          ${CMAKE_SOURCE_DIR}/cmake/TaasBodyBoundary.cmake
  COMMENT "Checking that task bodies include only the author API"
  VERBATIM)
add_custom_target(taas_body_boundary DEPENDS ${TAAS_BODY_BOUNDARY_STAMP})

add_library(taas_task_bodies OBJECT ${TAAS_TASK_BODIES})
add_dependencies(taas_task_bodies taas_generate taas_body_boundary)
target_include_directories(taas_task_bodies PRIVATE ${TAAS_BODY_INCLUDE_DIRS} ${JSMN_INCLUDE_DIR})

add_library(taas_tasks STATIC ${TAAS_GENERATED_SOURCES} $<TARGET_OBJECTS:taas_task_bodies>)
add_dependencies(taas_tasks taas_generate)
target_include_directories(taas_tasks PUBLIC
  ${CMAKE_SOURCE_DIR}/generated ${CMAKE_SOURCE_DIR}/runtime/include ${CMAKE_SOURCE_DIR}/runtime)
target_link_libraries(taas_tasks PUBLIC taas_schema taas_json)
if(TARGET taas_core)
  target_link_libraries(taas_tasks PUBLIC taas_core)
endif()

# The generated smoke test: every spec's `examples` run through taas_run, the
# output compared with the expected one (taas_json_equal).
if(TAAS_TESTS AND TARGET taas_core)
  add_library(taas_examples_data STATIC ${TAAS_GENERATED_DIR}/examples.c)
  add_dependencies(taas_examples_data taas_generate)
  target_link_libraries(taas_examples_data PUBLIC taas_tasks)
  add_executable(taas-tasks-examples ${CMAKE_SOURCE_DIR}/codegen/tests/tasks_examples.c)
  set_target_properties(taas-tasks-examples PROPERTIES
    RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  target_link_libraries(taas-tasks-examples PRIVATE taas_examples_data taas_tasks taas_core
                        taas_tasks)
  add_test(NAME tasks_examples COMMAND taas-tasks-examples)
  foreach(spec IN LISTS TAAS_TASK_SPECS)
    get_filename_component(stem ${spec} NAME_WE)
    add_test(NAME tasks_examples_${stem} COMMAND taas-tasks-examples ${stem})
    # A spec without examples is reported as skipped, not passed.
    set_tests_properties(tasks_examples_${stem} PROPERTIES SKIP_RETURN_CODE 77)
  endforeach()
endif()
