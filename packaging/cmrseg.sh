#!/bin/sh
# /usr/bin/cmrseg: starts /usr/lib/cmrseg/cmrseg, which finds its torch shim
# in /usr/lib/cmrseg/lib through RUNPATH $ORIGIN/lib. When the dynamic loader
# cannot start it, say which shared library is missing and
# which package provides it.
bin=/usr/lib/cmrseg/cmrseg

# Check the shared libraries first, then exec, so the program gets the
# terminal's signals directly (a background child of a non-interactive shell
# would start with SIGINT ignored, and Ctrl-C would not stop it).
if [ -x "$bin" ] && ! ldd "$bin" 2>/dev/null | grep -q '=> not found'; then
	exec "$bin" "$@"
fi

missing=$(ldd "$bin" 2>/dev/null | awk '/=> not found/ {print $1}' | sort -u)
if [ ! -x "$bin" ]; then
	echo "cmrseg: $bin is missing or not executable; reinstall: sudo apt-get install --reinstall cmrseg" >&2
elif [ -n "$missing" ]; then
	pkgs=
	for lib in $missing; do
		case "$lib" in
		libtorch*.so.1.13|libc10.so.1.13|libshm.so.1.13) p=libtorch1.13 ;;
		libcgotorch.so) p=cmrseg ;;
		libopenblas*) p=libopenblas0-pthread ;;
		libGL.so.1|libGLX.so.0) p=libgl1 ;;
		libX11.so.6) p=libx11-6 ;;
		libgomp.so.1) p=libgomp1 ;;
		libstdc++.so.6) p=libstdc++6 ;;
		*) p= ;;
		esac
		echo "cmrseg: missing shared library: $lib${p:+ (package $p)}" >&2
		case " $pkgs " in *" $p "*) ;; *) pkgs="$pkgs${p:+ $p}" ;; esac
	done
	case " $pkgs " in
	*" cmrseg "*) echo "cmrseg: the bundled torch shim /usr/lib/cmrseg/lib/libcgotorch.so is gone; reinstall with: sudo apt-get install --reinstall cmrseg" >&2 ;;
	esac
	rest=$(echo "$pkgs" | tr ' ' '\n' | grep -v -x -e '' -e cmrseg | tr '\n' ' ' | sed 's/ *$//')
	if [ -n "$rest" ]; then
		echo "cmrseg: install the missing libraries with: sudo apt-get install $rest" >&2
	fi
	echo "cmrseg: (the cmrseg package depends on libtorch1.13 and libopenblas0-pthread; 'sudo apt-get -f install' restores broken dependencies)" >&2
fi
exit 127
