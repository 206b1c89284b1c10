#!/bin/sh
# /usr/bin/cmrseg: starts /usr/lib/cmrseg/cmrseg, which finds its torch shim
# in /usr/lib/cmrseg/lib through RUNPATH $ORIGIN/lib. When the dynamic loader
# cannot start it, say which shared library is missing and
# which package provides it.
bin=/usr/lib/cmrseg/cmrseg
# Filled in by packaging/build-deb.sh: cmrseg depends on Debian's libtorch
# package; a variant (cmrseg-cuda) on a site libtorch in a fixed folder.
pkg=@PKG@
torch_pkg=@TORCH_PKG@
torch_dir=@TORCH_DIR@

# Check the shared libraries first, then exec, so the program gets the
# terminal's signals directly (a background child of a non-interactive shell
# would start with SIGINT ignored, and Ctrl-C would not stop it).
if [ -x "$bin" ] && ! ldd "$bin" 2>/dev/null | grep -q '=> not found'; then
	exec "$bin" "$@"
fi

missing=$(ldd "$bin" 2>/dev/null | awk '/=> not found/ {print $1}' | sort -u)
if [ ! -x "$bin" ]; then
	echo "cmrseg: $bin is missing or not executable; reinstall: sudo apt-get install --reinstall $pkg" >&2
elif [ -n "$missing" ]; then
	pkgs=
	for lib in $missing; do
		case "$lib" in
		libtorch*|libc10*|libshm*) p=$torch_pkg ;;
		libcgotorch.so) p=cmrseg ;;
		libopenblas*) p=libopenblas0-pthread ;;
		libGL.so.1|libGLX.so.0) p=libgl1 ;;
		libX11.so.6) p=libx11-6 ;;
		libgomp.so.1) p=libgomp1 ;;
		libstdc++.so.6) p=libstdc++6 ;;
		*) p= ;;
		esac
		echo "cmrseg: missing shared library: $lib${p:+ (package $p)}" >&2
		case "$lib" in libtorch*|libc10*|libshm*)
			[ -z "$torch_dir" ] || echo "cmrseg: $pkg was built against the libtorch in $torch_dir: install it there (see /usr/share/doc/$pkg/README.cuda.md)" >&2 ;;
		esac
		case " $pkgs " in *" $p "*) ;; *) pkgs="$pkgs${p:+ $p}" ;; esac
	done
	case " $pkgs " in
	*" cmrseg "*) echo "cmrseg: the bundled torch shim /usr/lib/cmrseg/lib/libcgotorch.so is gone; reinstall with: sudo apt-get install --reinstall $pkg" >&2 ;;
	esac
	rest=$(echo "$pkgs" | tr ' ' '\n' | grep -v -x -e '' -e cmrseg | tr '\n' ' ' | sed 's/ *$//')
	if [ -n "$rest" ]; then
		echo "cmrseg: install the missing libraries with: sudo apt-get install $rest" >&2
	fi
	if [ -n "$torch_pkg" ]; then
		echo "cmrseg: (the $pkg package depends on $torch_pkg and libopenblas0-pthread; 'sudo apt-get -f install' restores broken dependencies)" >&2
	fi
fi
exit 127
