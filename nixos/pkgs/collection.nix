# The bo.microvm Ansible collection, built from this repository (src = the flake root):
#   $out/ansible_collections/bo/microvm/   the installed collection (put $out on
#                                          ANSIBLE_COLLECTIONS_PATH), with the module
#                                          binary plugins/modules/.bin/bo_microvm_linux_{amd64,arm64}
#                                          and its links plugins/modules/<name>_linux_{amd64,arm64}
#   $out/dist/bo-microvm-<version>.tar.gz  the galaxy tarball (ansible-galaxy collection build)
{
  lib,
  buildGoModule,
  ansible,
  src,
  version,
}:

buildGoModule {
  pname = "bo-microvm-collection";
  inherit version;

  src = lib.cleanSourceWith {
    inherit src;
    name = "bo-microvm-source";
    # Leave out build output. Test packages stay: `go mod vendor` vendors their
    # imports too, and the vendor hash must match a checkout's.
    filter =
      path: type:
      let
        rel = lib.removePrefix (toString src + "/") (toString path);
      in
      rel != "build"
      && !(lib.hasSuffix ".tar.gz" rel)
      && !(builtins.match "plugins/modules/.*_linux_.*" rel != null)
      && !(builtins.match "plugins/modules/\\.bin(/.*)?" rel != null);
  };

  # Hash of `go mod vendor` for go.mod/go.sum and the packages the modules import.
  # tests/nix checks it; `make nix-vendor-hash` rewrites the file.
  vendorHash = lib.fileContents ./collection.vendorhash;

  # nixpkgs' `ansible` is ansible-core; ansible-galaxy builds the tarball.
  nativeBuildInputs = [ ansible ];

  # One static multi-call binary per target architecture (modules/main.go: every module), its
  # sha256 (the fast path's cache key) and one link per module for ansible-core's plain path,
  # as the Makefile's binaries target makes them; the action plugin picks one per managed host.
  buildPhase = ''
    runHook preBuild
    for arch in amd64 arm64; do
      bin=bo_microvm_linux_$arch
      mkdir -p plugins/modules/.bin
      CGO_ENABLED=0 GOOS=linux GOARCH=$arch \
        go build -trimpath -tags nethttpomithttp2 -gcflags=all=-l -gcflags=runtime= -gcflags=crypto/...= \
          -ldflags "-s -w" -o "plugins/modules/.bin/$bin" ./modules
      (cd plugins/modules/.bin && sha256sum "$bin" > "$bin.sha256")
      for main in modules/*/main.go; do
        name=$(basename "$(dirname "$main")")
        ln -sfn ".bin/$bin" "plugins/modules/''${name}_linux_$arch"
      done
    done
    runHook postBuild
  '';

  # The unit tests run in the repository's CI; the lab tests need root and hosts.
  doCheck = false;

  installPhase = ''
    runHook preInstall
    dest=$out/ansible_collections/bo/microvm
    mkdir -p "$dest"
    for item in galaxy.yml meta plugins playbooks roles docs README.md LICENSE CHANGELOG.md; do
      if [ -e "$item" ]; then cp -r "$item" "$dest/"; fi
    done
    HOME=$TMPDIR ansible-galaxy collection build --output-path "$out/dist" "$dest"
    runHook postInstall
  '';

  meta = {
    description = "Ansible collection bo.microvm: microvm.nix VM lifecycle and k0s bootstrap as Go modules";
    platforms = lib.platforms.linux;
  };
}
