# Checks that task bodies include only the author API: run as
#   cmake -DFILES=a.c;b.c -DALLOWED=dir1;dir2 -P TaasBodyBoundary.cmake
# Every quoted #include of every file must be found, as the compiler finds
# it, in the file's own folder or in one of ALLOWED (the public headers,
# generated/, the bodies' folders), and must not climb out with "..".
# The compiler already fails on a header it cannot find on the body's
# include path; this check also catches the ways around that (a relative
# "../runtime/..." path, a header copied next to the body that includes
# internal ones) and names the rule in its message. Angle-bracket includes
# are system headers and are not checked.
set(_bad "")
foreach(f IN LISTS FILES)
  file(STRINGS "${f}" _lines REGEX "^[ \t]*#[ \t]*include[ \t]*\"")
  get_filename_component(_dir "${f}" DIRECTORY)
  foreach(l IN LISTS _lines)
    string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"([^\"]*)\".*" "\\1" inc "${l}")
    if(inc MATCHES "(^|/)\\.\\.(/|$)" OR IS_ABSOLUTE "${inc}")
      list(APPEND _bad "${f}: #include \"${inc}\" leaves the allowed folders")
      continue()
    endif()
    set(_found FALSE)
    foreach(d IN LISTS _dir ALLOWED)
      if(EXISTS "${d}/${inc}")
        set(_found TRUE)
        break()
      endif()
    endforeach()
    if(NOT _found)
      list(APPEND _bad "${f}: #include \"${inc}\" is not an author API header")
    endif()
  endforeach()
endforeach()
if(_bad)
  list(JOIN _bad "\n  " _msg)
  list(JOIN ALLOWED "\n  " _allowed)
  message(FATAL_ERROR
    "Task bodies may include only the author API (runtime/include/taas/), "
    "generated/ and their own folder's headers:\n  ${_msg}\n"
    "Allowed folders:\n  ${_allowed}\n"
    "Move what the body needs behind a public header in runtime/include/taas/, "
    "or into the body's own folder.")
endif()
