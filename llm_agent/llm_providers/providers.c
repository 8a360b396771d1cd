/*
 * llm_agent/llm_providers/providers.c - the table of providers. A new
 * provider is one file defining its `const taas_llm_provider` and one line
 * here (and one in CMakeLists.txt).
 */
#include <string.h>

#include "provider.h"

extern const taas_llm_provider taas_llm_openai;
extern const taas_llm_provider taas_llm_anthropic;
extern const taas_llm_provider taas_llm_ollama;

static const taas_llm_provider *const providers[] = {
    &taas_llm_openai,
    &taas_llm_anthropic,
    &taas_llm_ollama,
};

const taas_llm_provider *taas_llm_provider_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof providers / sizeof providers[0]; i++) {
        if (providers[i]->version == TAAS_LLM_PROVIDER_VERSION &&
            strcmp(providers[i]->name, name) == 0)
            return providers[i];
    }
    return NULL;
}

const char *taas_llm_provider_names(void) { return "openai, anthropic, ollama"; }
