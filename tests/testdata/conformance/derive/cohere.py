# Derives the OpenAI-side expectations for every Cohere fixture (see ../README.md).
import json, os, re
HERE=os.path.dirname(os.path.abspath(__file__))
D=os.path.join(HERE, '../../providers/cohere')
man=json.load(open(f'{D}/manifest.json'))
FINISH={'COMPLETE':'stop','STOP_SEQUENCE':'stop','MAX_TOKENS':'length','TOOL_CALL':'tool_calls'}
def usage(u):
    t=u.get('tokens') or u.get('billed_units') or {}
    p=t.get('input_tokens',0); c=t.get('output_tokens',0)
    return {'prompt_tokens':p,'completion_tokens':c,'total_tokens':p+c,'cached_tokens':u.get('cached_tokens',0)}
# Thinking reaches the client as reasoning_content (named only where there is some).
def with_reasoning(expect, reasoning):
    if reasoning: expect['reasoning_content']=reasoning
    return expect
def events(text):
    out=[]
    for block in re.split(r'\r?\n\r?\n', text):
        data=[l[5:].lstrip(' ') for l in block.splitlines() if l.startswith('data:')]
        if data and data[0]!='[DONE]': out.append(json.loads('\n'.join(data)))
    return out
def expect_stream(text):
    content=''; calls={}; order=[]; fin=None; u=None; reasoning=''
    for e in events(text):
        t=e['type']; m=(e.get('delta') or {}).get('message') or {}
        if t=='content-delta':
            content+=m['content'].get('text','')
            reasoning+=m['content'].get('thinking','')
        elif t=='tool-call-start':
            tc=m['tool_calls']; calls[e['index']]={'id':tc['id'],'name':tc['function']['name'],'arguments':tc['function'].get('arguments','')}; order.append(e['index'])
        elif t=='tool-call-delta': calls[e['index']]['arguments']+=m['tool_calls']['function']['arguments']
        elif t=='message-end': fin=FINISH[e['delta']['finish_reason']]; u=usage(e['delta'].get('usage',{}))
    return with_reasoning({'content':content,'tool_calls':[calls[i] for i in order],'finish_reason':fin,'usage':u}, reasoning)
def expect_body(text):
    b=json.loads(text); m=b['message']
    content=''.join(c['text'] for c in m.get('content',[]) if c['type']=='text')
    reasoning=''.join(c['thinking'] for c in m.get('content',[]) if c['type']=='thinking')
    calls=[{'id':c['id'],'name':c['function']['name'],'arguments':c['function']['arguments']} for c in m.get('tool_calls',[])]
    return with_reasoning({'content':content,'tool_calls':calls,'finish_reason':FINISH[b['finish_reason']],'usage':usage(b['usage'])}, reasoning)
def fixture_request(name):
    return json.load(open(f'{D}/{name}'))
def tools_of(r):
    return r.get('tools')
REQ={}
for name, file in [('chat','chat_request.json'),('chat_stream','chat_stream_request.json'),('tool_call','tool_call_request.json'),('tool_call_stream','tool_call_stream_request.json'),('tool_plan','tool_plan_request.json')]:
    r=fixture_request(file)
    # The Cohere request is already OpenAI-shaped for these: messages, tools, temperature, max_tokens.
    o={'messages':r['messages']}
    for k in ('tools','temperature','max_tokens'):
        if k in r: o[k]=r[k]
    if r.get('stream'): o['stream']=True
    REQ[name]=o
tr=fixture_request('tool_result_request.json')
REQ['tool_result']={'messages':[tr['messages'][0],
  {'role':'assistant','content':tr['messages'][1]['tool_plan'],'tool_calls':tr['messages'][1]['tool_calls']},
  {'role':'tool','tool_call_id':tr['messages'][2]['tool_call_id'],'content':tr['messages'][2]['content'][0]['document']['data']}],
  'tools':tr['tools']}
# An upstream's 401/403 means the operator's provider key is refused: the gateway's own 502, never
# the client's 401 nor the provider's words (docs/providers.md).
def auth_failed(provider):
    return {'status':502,'type':'server_error','code':'upstream_auth_failed','message':f"The provider {provider} refused the gateway's credentials; the gateway's operator must check its API key for this provider."}
ERR={400:('invalid_request_error',None),401:('authentication_error','invalid_api_key'),404:('not_found_error','model_not_found'),429:('rate_limit_error','rate_limit_exceeded'),500:('server_error',None),503:('server_error','overloaded')}
cases=[]
for f in man['fixtures']:
    name=f['name']
    if name=='models': continue
    body=open(f"{D}/{f['response']}").read()
    stream=f['response'].endswith('.sse')
    case={'fixture':name,'openai':REQ.get(name) or {"messages":[{"role":"user","content":"Hello"}]}}
    up={'method':'POST','path':'/v2/chat','headers':{'authorization':'Bearer cohere-conformance-key'}}
    if f.get('request'):
        up['body']=f['request']
        # "stream" is explicit in some captured requests and absent in others; aimarket always sends it.
        up['ignore']=['model','stream']
    case['upstream']=up
    if f['status']!=200:
        st=422 if f['status']==422 else f['status']
        client=400 if st==422 else st
        typ,code=ERR[client]
        case['expect']={'error':auth_failed('cohere') if client in (401,403) else {'status':client,'type':typ,'code':code,'message':json.loads(body)['message']}}
    elif stream: case['expect']=expect_stream(body)
    else: case['expect']=expect_body(body)
    cases.append(case)
json.dump({'provider':'cohere','config':{'type':'cohere','api_key_env':'AIMARKET_CONFORMANCE_COHERE_KEY','api_key':'cohere-conformance-key'},'cases':cases},open(os.path.join(HERE,'../cohere.json'),'w'),indent=1,ensure_ascii=False)
for c in cases: print(c['fixture'], json.dumps(c['expect'])[:160])
