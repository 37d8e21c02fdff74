# Random values for every type checker: python3 genconv.py SEED COUNT
import json, random, sys
random.seed(int(sys.argv[1])); N = int(sys.argv[2])
atoms = ["1", "-1", "+2", "0", "007", "0x1F", "0o17", "0b101", "1_000", "1.5", "-1.5e3", ".5", "5.", "1e5", "1j", "inf", "nan",
         "True", "False", "None", "'a'", '"b"', "'it''s'", "r'\\n'", "u'x'", "b'x'", "'\\x41'", "'\\u00e9'", "'\\101'", "'a' 'b'",
         "(1,)", "()", "(1, 2)", "[1, 2]", "[]", "{}", "{1, 2}", "x", "os.path", "x.y()", "import os", "'", "\"", "#c", "\n", " ", ",", ":"]
def lit(d=0):
    r = random.random()
    if d < 3 and r < 0.25:
        return "{" + ", ".join("%s: %s" % (random.choice(atoms), lit(d + 1)) for _ in range(random.randint(0, 3))) + random.choice(["}", "}", "}", ",}", ""])
    if d < 3 and r < 0.35:
        return "[" + ", ".join(lit(d + 1) for _ in range(random.randint(0, 3))) + random.choice(["]", "]", ",]"])
    return random.choice(atoms)
nums = ["", " ", "1", " 7 ", "+1", "-0", "1_0", "_1", "1__0", "1.0", "1e3", "1E3", "1.5", ".5", "5.", "inf", "-Infinity", "nan", "0x10", "١٢", "1 2", "1.5e1", "\x1c3\x1f", "12abc"]
units = ["", "b", "B", "k", "K", "KB", "Kb", "kB", "kb", "KByte", "Kbit", "kilobyte", "kilobit", "M", "MB", "Mb", "MiB", "bytes", "bits", "Y", "X", "B1"]
for _ in range(N):
    r = random.random()
    if r < 0.4:
        print(json.dumps(["dict", lit()]))
    elif r < 0.5:
        kv = " ".join("%s=%s" % (random.choice(["a", "b", "c d", "'e f'"]), random.choice(["1", "'x y'", '"q\\" r"', "\\,", "=", ""])) for _ in range(random.randint(1, 3)))
        print(json.dumps(["dict", random.choice([",", " ", ", "]).join([kv])]))
    elif r < 0.7:
        print(json.dumps([random.choice(["int", "float", "bool"]), random.choice(nums + ["yes", "On", " off ", "t", "F"])]))
    else:
        print(json.dumps([random.choice(["bytes", "bits"]), random.choice(nums[:12]) + random.choice(["", " "]) + random.choice(units)]))
