# `nix develop .#ansible`: what the user's commands need, as written:
#   ansible-playbook -i $INVENTORY $BO_PLAYBOOKS/deploy-microvms.yaml
{
  mkShell,
  ansible,
  ansible-lint,
  nix,
  go,
  gnumake,
  git,
  openssh,
  zstd,
  collection,
}:

mkShell {
  name = "bo-microvm-ansible";
  packages = [
    ansible
    ansible-lint
    nix
    go
    gnumake
    git
    openssh
    # a first task on a new host sends the module binary as zstd where the host has it
    zstd
  ];

  # The built collection (module binaries included) and its playbooks.
  ANSIBLE_COLLECTIONS_PATH = "${collection}";
  BO_PLAYBOOKS = "${collection}/ansible_collections/bo/microvm/playbooks";
}
