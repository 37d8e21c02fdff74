# Evaluates one NixOS module file without nixpkgs, the way the module system
# would for the parts a contract test looks at:
#   - `options`: the module's option declarations;
#   - `config`: the settings given, checked against the declared types and
#     completed with the declared defaults (an undeclared setting, a value of
#     the wrong type or a missing value without default throws);
#   - `out`: the module's `config` with mkIf/mkMerge/mkOverride/mkOrder
#     resolved: false conditions dropped, the highest priority kept, lists
#     concatenated, `lines` joined in order, conflicting values thrown.
# Use it as `import ./eval.nix { module = ../../nixos/modules/x.nix; settings = { ... }; }`.
# `modules` are further modules (a site's profile and host files) whose
# definitions of the declared options are merged with `settings`, priorities
# (mkDefault, mkForce) included; what they define outside those options is
# ignored.
{
  module,
  settings ? { },
  modules ? [ ],
  lib ? import ./lib.nix,
  pkgs ? import ./pkgs.nix,
}:

let
  inherit (builtins)
    all
    attrNames
    concatLists
    concatStringsSep
    filter
    foldl'
    head
    isAttrs
    isList
    isString
    length
    listToAttrs
    sort
    ;

  isOption = v: isAttrs v && (v._type or null) == "option";
  isPlainAttrs = v: isAttrs v && !(v ? _type) && !(lib.isDerivation v);
  unique = foldl' (acc: x: if builtins.elem x acc then acc else acc ++ [ x ]) [ ];
  showPath = path: concatStringsSep "." path;

  # Settings checked against declarations, with defaults filled in.
  apply =
    path: decl: value:
    if isOption decl then
      applyOption path decl value
    else
      let
        given = if value == null then { } else value;
        unknown = filter (n: !(decl ? ${n})) (attrNames given);
      in
      if unknown != [ ] then
        throw "The option `${showPath (path ++ [ (head unknown) ])}' does not exist."
      else
        builtins.mapAttrs (n: d: apply (path ++ [ n ]) d (given.${n} or null)) decl;

  applyOption =
    path: opt: value:
    let
      hasValue = value != null;
      v =
        if hasValue then
          value
        else if opt ? default then
          opt.default
        else
          throw "The option `${showPath path}' is used but not defined.";
      t = opt.type;
      checked =
        if opt.readOnly or false && hasValue then
          throw "The option `${showPath path}' is read-only."
        else if t.check v then
          v
        else
          throw "A definition for option `${showPath path}' is not of type `${t.name}'.";
      sub = t.elemType.submoduleOptions or null;
    in
    if t ? submoduleOptions then
      apply path t.submoduleOptions v
    else if sub != null && isList v then
      lib.concatMap (x: [ (apply path sub x) ]) (if t.check v then v else checked)
    else
      checked;

  # Property resolution: a value becomes a list of definitions.
  flatten =
    prio: order: v:
    if isAttrs v && v ? _type then
      if v._type == "if" then
        (if v.condition then flatten prio order v.content else [ ])
      else if v._type == "merge" then
        lib.concatMap (flatten prio order) v.contents
      else if v._type == "override" then
        flatten v.priority order v.content
      else if v._type == "order" then
        flatten prio v.priority v.content
      else
        [ { inherit prio order; value = v; } ]
    else
      [ { inherit prio order; value = v; } ];

  merge =
    path: defs:
    if all (d: isPlainAttrs d.value) defs then
      let
        names = unique (lib.concatMap (d: attrNames d.value) defs);
        sub = n: lib.concatMap (d: if d.value ? ${n} then flatten d.prio d.order d.value.${n} else [ ]) defs;
        present = filter (n: sub n != [ ]) names;
      in
      listToAttrs (map (n: {
        name = n;
        value = merge (path ++ [ n ]) (sub n);
      }) present)
    else
      let
        best = foldl' (m: d: if d.prio < m then d.prio else m) 10000 defs;
        top = sort (a: b: a.order < b.order) (filter (d: d.prio == best) defs);
        values = map (d: d.value) top;
      in
      if length values == 1 then
        head values
      else if all isList values then
        concatLists values
      else if all isString values then
        concatStringsSep "\n" values
      else if all (x: x == head values) values then
        head values
      else
        throw "The option `${showPath path}' has conflicting definitions.";

  call =
    m:
    let
      f = if builtins.isFunction m then m else import m;
      r =
        if builtins.isFunction f then
          f {
            inherit lib pkgs;
            config = cfg;
            options = { };
          }
        else
          f;
    in
    if r ? options || r ? config then r.config or { } else builtins.removeAttrs r [ "imports" ];

  evaluated = import module {
    inherit lib pkgs;
    config = cfg;
    options = { };
  };
  settingDefs = flatten 100 1000 settings ++ lib.concatMap (m: flatten 100 1000 (call m)) modules;
  merged = if settingDefs == [ ] then { } else merge [ ] settingDefs;
  cfg = apply [ ] evaluated.options (builtins.intersectAttrs evaluated.options merged);
  outDefs = flatten 100 1000 (evaluated.config or { });
in
{
  inherit (evaluated) options;
  config = cfg;
  out = if outDefs == [ ] then { } else merge [ ] outDefs;
}
