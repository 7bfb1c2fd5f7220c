# cnncConfig.cmake — find_package(cnnc): the cnnc compiler and its runtime
# for CMake projects.  Installed as PREFIX/lib/cmake/cnnc/; it finds the
# rest of the install relative to itself, so a DESTDIR-staged or moved
# tree works.  It defines:
#
#   CNNC_EXECUTABLE       the compiler (PREFIX/bin/cnnc)
#   cnnc::cnnrt           imported static library (libcnnrt.a), with its
#                         include directory and libm/pthread
#   cnnc_add_model(TARGET model.cnn [MAIN] [INFERENCE] [EMBED_RUNTIME]
#                  [BATCH n] [PREFIX name] [OPTIONS ...])
#       generates TARGET_cnnc/TARGET.c and TARGET.h in the binary directory
#       (so users include "TARGET.h"), regenerated when the .cnn (or
#       anything cnnc reports reading, through its -MD dependency file) or
#       cnnc changes.  Exported names keep the model's name unless PREFIX.
#       With MAIN, TARGET is the trainer executable; otherwise a static
#       library whose users get the header's directory on their include
#       path.  Without EMBED_RUNTIME it links cnnc::cnnrt.
#
# It is not a general CMake module for cnnc's own build (that is make).
get_filename_component(_cnnc_prefix "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)

find_program(CNNC_EXECUTABLE cnnc PATHS "${_cnnc_prefix}/bin" NO_DEFAULT_PATH)
if(NOT CNNC_EXECUTABLE)
  set(cnnc_FOUND FALSE)
  set(cnnc_NOT_FOUND_MESSAGE "cnnc: no compiler in ${_cnnc_prefix}/bin")
  return()
endif()

include(CMakeFindDependencyMacro)
set(THREADS_PREFER_PTHREAD_FLAG ON)
find_dependency(Threads)

if(NOT TARGET cnnc::cnnrt)
  add_library(cnnc::cnnrt STATIC IMPORTED)
  set_target_properties(cnnc::cnnrt PROPERTIES
    IMPORTED_LOCATION "${_cnnc_prefix}/lib/libcnnrt.a"
    INTERFACE_INCLUDE_DIRECTORIES "${_cnnc_prefix}/include/cnnrt"
    INTERFACE_LINK_LIBRARIES "Threads::Threads;m")
endif()

function(cnnc_add_model target cnn)
  cmake_parse_arguments(arg "MAIN;INFERENCE;EMBED_RUNTIME" "BATCH;PREFIX" "OPTIONS" ${ARGN})
  if(arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "cnnc_add_model: unknown arguments: ${arg_UNPARSED_ARGUMENTS}")
  endif()
  get_filename_component(src "${cnn}" ABSOLUTE)
  set(name "${target}")
  set(dir "${CMAKE_CURRENT_BINARY_DIR}/${target}_cnnc")
  file(MAKE_DIRECTORY "${dir}")
  set(flags ${arg_OPTIONS})
  if(arg_MAIN)
    list(APPEND flags --main)
  endif()
  if(arg_INFERENCE)
    list(APPEND flags --inference)
  endif()
  if(arg_EMBED_RUNTIME)
    list(APPEND flags --embed-runtime)
  endif()
  if(arg_BATCH)
    list(APPEND flags --batch ${arg_BATCH})
  endif()
  if(arg_PREFIX)
    list(APPEND flags --prefix ${arg_PREFIX})
  endif()
  set(depfile "")
  if(CMAKE_VERSION VERSION_GREATER_EQUAL 3.20)
    set(depfile DEPFILE "${dir}/${name}.d")
    list(APPEND flags -MD -MF "${dir}/${name}.d")
  endif()
  add_custom_command(
    OUTPUT "${dir}/${name}.c" "${dir}/${name}.h"
    COMMAND "${CNNC_EXECUTABLE}" ${flags} "${src}" -o "${dir}/${name}.c"
    DEPENDS "${src}" "${CNNC_EXECUTABLE}"
    ${depfile}
    COMMENT "cnnc ${cnn}"
    VERBATIM)
  if(arg_MAIN)
    add_executable(${target} "${dir}/${name}.c")
  else()
    add_library(${target} STATIC "${dir}/${name}.c")
  endif()
  target_include_directories(${target} PUBLIC "${dir}")
  if(arg_EMBED_RUNTIME)
    target_link_libraries(${target} PUBLIC m)
    if(arg_MAIN)
      target_link_libraries(${target} PUBLIC Threads::Threads)
    endif()
  else()
    target_link_libraries(${target} PUBLIC cnnc::cnnrt)
  endif()
endfunction()
