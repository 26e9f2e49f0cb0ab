obj/a.o: src/a.c src/a.h \
  /usr/include/stdio.h src/with\ space.h
