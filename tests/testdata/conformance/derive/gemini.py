# Derives the OpenAI-side expectations for every Gemini fixture.
import json, re
import os
HERE=os.path.dirname(os.path.abspath(__file__))
D=os.path.join(HERE, '../../providers/gemini')
man=json.load(open(f'{D}/manifest.json'))
def sse_events(text):
    out=[]; rest=[]
    for block in re.split(r'\r?\n\r?\n', text):
        lines=block.splitlines()
        data=[l[5:].lstrip(' ') for l in lines if l.startswith('data:')]
        if data: out.append(json.loads('\n'.join(data)))
        elif block.strip(): rest.append(block)
    return out, '\n'.join(rest)
FILTER={'SAFETY','RECITATION','BLOCKLIST','PROHIBITED_CONTENT','SPII','LANGUAGE'}
def finish(reason, calls):
    if reason=='MAX_TOKENS': return 'length'
    if reason in FILTER or reason.startswith('IMAGE_'): return 'content_filter'
    return 'tool_calls' if calls else 'stop'
def usage(u):
    if u is None: return None
    th=u.get('thoughtsTokenCount',0)
    p=u.get('promptTokenCount',0)+u.get('toolUsePromptTokenCount',0); c=u.get('candidatesTokenCount',0)+th
    return {'prompt_tokens':p,'completion_tokens':c,'total_tokens':u.get('totalTokenCount',p+c),'cached_tokens':u.get('cachedContentTokenCount',0),'reasoning_tokens':th}
# Thought parts reach the client as reasoning_content (named only where there is some).
def with_reasoning(expect, reasoning):
    if ''.join(reasoning): expect['reasoning_content']=''.join(reasoning)
    return expect
def parts_of(cand):
    return (cand.get('content') or {}).get('parts') or []
def collect(parts, content, calls, reasoning):
    for p in parts:
        if p.get('thought'):
            reasoning.append(p.get('text',''))
            continue
        if 'text' in p: content+=p['text']
        elif 'functionCall' in p: calls.append({'name':p['functionCall']['name'],'arguments':json.dumps(p['functionCall'].get('args',{}),separators=(',',':'))})
    return content
def expect_stream(text):
    evs, rest = sse_events(text)
    content=''; calls=[]; reason=''; u=None; blocked=False; reasoning=[]
    for e in evs:
        if 'usageMetadata' in e: u=e['usageMetadata']
        c=e.get('candidates') or []
        if not c:
            if 'promptFeedback' in e: blocked=True
            continue
        content=collect(parts_of(c[0]), content, calls, reasoning)
        if c[0].get('finishReason'): reason=c[0]['finishReason']
    if rest.strip():
        err=json.loads(rest)['error']
        return with_reasoning({'content':content,'tool_calls':calls,'stream_error':{'message':err['message']}}, reasoning)
    return with_reasoning({'content':content,'tool_calls':calls,'finish_reason':'content_filter' if blocked else finish(reason, bool(calls)),'usage':usage(u)}, reasoning)
def expect_body(text):
    b=json.loads(text); c=b.get('candidates') or []
    if not c: return {'content':'','tool_calls':[],'finish_reason':'content_filter','usage':usage(b.get('usageMetadata'))}
    calls=[]; reasoning=[]; content=collect(parts_of(c[0]),'',calls,reasoning)
    return with_reasoning({'content':content,'tool_calls':calls,'finish_reason':finish(c[0].get('finishReason',''), bool(calls)),'usage':usage(b.get('usageMetadata'))}, reasoning)
WEATHER={"type":"function","function":{"name":"get_current_weather","description":"Get the current weather in a given location","parameters":{"type":"object","properties":{"location":{"type":"string","description":"The city and state, e.g. San Francisco, CA"},"unit":{"type":"string","enum":["celsius","fahrenheit"]}},"required":["location"]}}}
REQ={
 'chat': {"messages":[{"role":"system","content":"You are a helpful assistant. Answer in one sentence."},{"role":"user","content":"Where is Google's headquarters?"}],"temperature":0.7,"top_p":0.95,"max_tokens":256,"stop":["END"],"n":1},
 'chat_stream': {"messages":[{"role":"user","content":"What is the capital of Wyoming?"}],"stream":True},
 'tool_call': {"messages":[{"role":"user","content":"What is the weather like in Boston today?"}],"tools":[WEATHER],"tool_choice":"auto"},
 'tool_call_stream': {"messages":[{"role":"user","content":"What is the weather like in Boston today?"}],"tools":[WEATHER],"tool_choice":"auto","stream":True},
 'function_response': {"messages":[{"role":"user","content":"What is the weather like in Boston today?"},{"role":"assistant","content":None,"tool_calls":[{"id":"call_boston","type":"function","function":{"name":"get_current_weather","arguments":"{\"location\":\"Boston, MA\"}"}}]},{"role":"tool","tool_call_id":"call_boston","content":"{\"temperature\":\"22\",\"unit\":\"celsius\",\"description\":\"Sunny\"}"}],"tools":[WEATHER]},
}
# An upstream's 401/403 means the operator's provider key is refused: the gateway's own 502, never
# the client's 401 nor the provider's words (docs/providers.md).
def auth_failed(provider):
    return {'status':502,'type':'server_error','code':'upstream_auth_failed','message':f"The provider {provider} refused the gateway's credentials; the gateway's operator must check its API key for this provider."}
ERR={400:('invalid_request_error',None),401:('authentication_error','invalid_api_key'),403:('permission_error',None),404:('not_found_error','model_not_found'),429:('rate_limit_error','rate_limit_exceeded'),500:('server_error',None),503:('server_error','overloaded')}
cases=[]
for f in man['fixtures']:
    name=f['name']
    if name=='models': continue
    body=open(f"{D}/{f['response']}").read()
    stream=f['response'].endswith('.sse')
    case={'fixture':name}
    case['openai']=REQ.get(name) or ({"messages":[{"role":"user","content":"Hello"}],"stream":stream})
    up={'method':'POST','path':'/v1beta/models/{model}:'+('streamGenerateContent' if stream else 'generateContent'),'headers':{'x-goog-api-key':'gemini-conformance-key'}}
    if stream: up['query']=['alt=sse']
    if f.get('request'): up['body']=f['request']
    case['upstream']=up
    if f['status']!=200:
        e=json.loads(body)['error']; st=f['status']
        if any(d.get('reason')=='API_KEY_INVALID' for d in e.get('details',[])): st=401
        typ,code=ERR[st]
        ex=auth_failed('gemini') if st in (401,403) else {'status':st,'type':typ,'code':code,'message':e['message']}
        for d in e.get('details',[]):
            if 'retryDelay' in d: ex['retry_after']=d['retryDelay'].rstrip('s')
        case['expect']={'error':ex}
    elif stream:
        case['expect']=expect_stream(body)
    else:
        case['expect']=expect_body(body)
    cases.append(case)
json.dump({'provider':'gemini','config':{'type':'gemini','api_key_env':'AIMARKET_CONFORMANCE_GEMINI_KEY','api_key':'gemini-conformance-key'},'cases':cases},open(os.path.join(HERE, '../gemini.json'),'w'),indent=1,ensure_ascii=False)
for c in cases: print(c['fixture'], json.dumps(c['expect'])[:200])
