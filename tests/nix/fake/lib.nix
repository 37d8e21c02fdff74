# A small stand-in for nixpkgs' lib: enough of the option and property API to
# import bo.microvm's NixOS modules as plain functions without nixpkgs.
# Properties (mkIf, mkMerge, mkOverride, mkOrder) are kept as tagged values;
# eval.nix resolves them the way the module system does.
let
  inherit (builtins)
    all
    any
    concatLists
    concatStringsSep
    elem
    genList
    isAttrs
    isBool
    isInt
    isList
    isString
    length
    match
    replaceStrings
    ;

  mkType =
    name: check: extra:
    {
      _type = "fake-type";
      inherit name check;
    }
    // extra;

  isDerivation = v: isAttrs v && (v.type or null) == "derivation";

  types = rec {
    bool = mkType "bool" isBool { };
    int = mkType "int" isInt { };
    str = mkType "str" isString { };
    lines = mkType "lines" isString { mergeStrings = true; };
    path = mkType "path" (v: isString v || builtins.isPath v) { };
    package = mkType "package" isDerivation { };
    port = ints.between 0 65535;
    ints = {
      positive = mkType "positive int" (v: isInt v && v > 0) { };
      unsigned = mkType "unsigned int" (v: isInt v && v >= 0) { };
      between = lo: hi: mkType "int between ${toString lo} and ${toString hi}" (v: isInt v && v >= lo && v <= hi) { };
    };
    strMatching = re: mkType "string matching ${re}" (v: isString v && match re v != null) { };
    enum = values: mkType "one of ${concatStringsSep ", " values}" (v: elem v values) { };
    nullOr = t: mkType "null or ${t.name}" (v: v == null || t.check v) { elemType = t; nullable = true; };
    listOf = t: mkType "list of ${t.name}" (v: isList v && all t.check v) { elemType = t; };
    attrsOf = t: mkType "attrs of ${t.name}" (v: isAttrs v && all t.check (builtins.attrValues v)) { elemType = t; };
    submodule =
      m:
      mkType "submodule" isAttrs {
        submoduleOptions = (if builtins.isFunction m then m { } else m).options;
      };
  };
in
rec {
  inherit types isDerivation;

  mkOption = attrs: attrs // { _type = "option"; };
  mkEnableOption = what: mkOption {
    type = types.bool;
    default = false;
    description = "Whether to enable ${what}.";
  };

  mkIf = condition: content: {
    _type = "if";
    inherit condition content;
  };
  mkMerge = contents: {
    _type = "merge";
    inherit contents;
  };
  mkOverride = priority: content: {
    _type = "override";
    inherit priority content;
  };
  mkDefault = mkOverride 1000;
  mkForce = mkOverride 50;
  mkOrder = priority: content: {
    _type = "order";
    inherit priority content;
  };
  mkBefore = mkOrder 500;
  mkAfter = mkOrder 1500;

  literalExpression = text: {
    _type = "literalExpression";
    inherit text;
  };

  optional = cond: x: if cond then [ x ] else [ ];
  optionals = cond: xs: if cond then xs else [ ];
  optionalString = cond: s: if cond then s else "";
  optionalAttrs = cond: a: if cond then a else { };
  concatMap = f: xs: concatLists (map f xs);
  inherit all any concatStringsSep replaceStrings;
  escapeShellArg = s: "'${replaceStrings [ "'" ] [ "'\\''" ] (toString s)}'";
  escapeShellArgs = xs: concatStringsSep " " (map escapeShellArg xs);
  range = first: last: if first > last then [ ] else genList (n: first + n) (last - first + 1);
  count = pred: xs: length (builtins.filter pred xs);
}
