# Random parameters for richSpec (internal/ansible/validate_test.go): python3 gen.py SEED COUNT
import json, random, sys
random.seed(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
N = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
scalars = ["", "x", "1", " 7 ", "1.0", "1.5", "-3", "1_000", "yes", "No", "off", "TRUE", "2", "a,b", "a, b", "k=v", "a=1 b='x y'",
           "{'a': 1}", '{"a": [1, 2]}', "{bad", "present", "absent", "no", "False", "True", "worker", "controller", "xfs", "ext4",
           "~/p", "$HOME/x", "s3cr3t", "None", "0", "10MB", "1Kb", "role=worker", "path=/x size=2", "inf", "nan",
           0, 1, 2, -1, 7, 1.0, 1.5, 0.0, True, False, None]
keys = ["name", "n", "vm_name", "state", "count", "force", "tags", "ports", "token", "src", "content", "user", "group", "fs",
        "label", "path", "vm", "volumes", "opts", "bogus"]
subkeys = {"vm": ["mem", "role", "key", "k", "disk", "extra"], "volumes": ["path", "size", "fs_type", "what"], "opts": ["retries", "x"]}
def val(depth=0, key=None):
    r = random.random()
    if key in subkeys and r < 0.5:
        if key == "volumes" and random.random() < 0.7:
            return [sub(key) for _ in range(random.randint(0, 2))]
        return sub(key)
    if depth < 2 and r < 0.1:
        return [val(depth + 1) for _ in range(random.randint(0, 3))]
    if depth < 2 and r < 0.15:
        return {random.choice(["a", "b", "x"]): val(depth + 1) for _ in range(random.randint(0, 2))}
    return random.choice(scalars)
def sub(key):
    d = {}
    for k in random.sample(subkeys[key], random.randint(0, len(subkeys[key]))):
        if k == "disk" and random.random() < 0.5:
            d[k] = {"size": random.choice(scalars)} if random.random() < 0.7 else {}
        else:
            d[k] = val(2)
    return d
for _ in range(N):
    p = {}
    for k in random.sample(keys, random.randint(0, 6)):
        p[k] = val(0, k)
    if random.random() < 0.8:
        p.setdefault("name", "x")
    print(json.dumps(["rich", p], sort_keys=True))
