# make demo: the main job on the built-in local lab.
.PHONY: demo demo-down
LAB_INVENTORY := $(or $(BO_LAB_RUN),/run/bo-lab)/inventory.yaml

demo: build ## set up, bring up the lab, deploy the example VMs, show their state
	bash .ci/deps
	tests/lab/lab up
	ansible-playbook -i $(LAB_INVENTORY) playbooks/deploy-microvms.yaml -e microvm_require_kvm=false
	ansible-playbook -i $(LAB_INVENTORY) playbooks/status-microvms.yaml
	# The guests over SSH with StrictHostKeyChecking=yes: their host keys are the ones the
	# deploy made on the hypervisors and wrote to known_hosts beside the inventory.
	ansible -i $(LAB_INVENTORY) microvms -m ansible.builtin.raw -a 'cat /etc/hostname'
	@echo
	@echo "The lab keeps running: the VMs answer SSH (tests/lab/lab ssh k0s-cp1)."
	@echo "Run any playbook against it: ansible-playbook -i $(LAB_INVENTORY) playbooks/<name>.yaml -e microvm_require_kvm=false"
	@echo "Tear it down with: make demo-down   (tests/lab/lab down)"

demo-down: ## tear the lab down, leaving nothing behind
	tests/lab/lab down
	tests/lab/lab clean-check
