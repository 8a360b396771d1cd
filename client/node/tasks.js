// Written by codegen/clientgen.py from task-specs/; do not edit.
// The methods declared in tasks.d.ts.

export const TASK_NAMES = Object.freeze(['countdown', 'create_config', 'fan_out', 'latency_probe', 'llm_agent', 'load_config', 'my_custom_task', 'noop', 'save_config', 'validate_config']);

export function makeTasks(run) {
  return Object.freeze({
    countdown: (inputs, options) => run('countdown', inputs ?? {}, options),
    create_config: (inputs, options) => run('create_config', inputs ?? {}, options),
    fan_out: (inputs, options) => run('fan_out', inputs ?? {}, options),
    latency_probe: (inputs, options) => run('latency_probe', inputs ?? {}, options),
    llm_agent: (inputs, options) => run('llm_agent', inputs ?? {}, options),
    load_config: (inputs, options) => run('load_config', inputs ?? {}, options),
    my_custom_task: (inputs, options) => run('my_custom_task', inputs ?? {}, options),
    noop: (inputs, options) => run('noop', inputs ?? {}, options),
    save_config: (inputs, options) => run('save_config', inputs ?? {}, options),
    validate_config: (inputs, options) => run('validate_config', inputs ?? {}, options),
  });
}
