# cmake -DCOMMAND="prog;arg;..." -DPATTERNS="re1;re2;..." -P check_output.cmake
#
# Runs COMMAND and passes when it exits 0 and its output matches every
# pattern (PASS_REGULAR_EXPRESSION alone ignores the exit status and
# passes on any one pattern).
execute_process(COMMAND ${COMMAND}
  RESULT_VARIABLE status
  OUTPUT_VARIABLE out
  ERROR_VARIABLE err)
message("${out}")
if(err)
  message("${err}")
endif()
if(NOT status EQUAL 0)
  message(FATAL_ERROR "exit status ${status}")
endif()
foreach(p IN LISTS PATTERNS)
  if(NOT out MATCHES "${p}")
    message(FATAL_ERROR "no line matches '${p}'")
  endif()
endforeach()
